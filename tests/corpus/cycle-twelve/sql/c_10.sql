select * from c_11
