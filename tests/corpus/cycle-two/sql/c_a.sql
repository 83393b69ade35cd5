select * from c_b
