select * from c_8
