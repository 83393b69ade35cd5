select * from c_3
