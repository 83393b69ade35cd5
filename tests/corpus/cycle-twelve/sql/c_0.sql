select * from c_1
