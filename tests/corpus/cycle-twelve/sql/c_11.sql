select * from c_0
