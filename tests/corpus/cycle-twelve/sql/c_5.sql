select * from c_6
