select * from c_5
