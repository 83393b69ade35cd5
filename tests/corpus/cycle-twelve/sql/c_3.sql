select * from c_4
