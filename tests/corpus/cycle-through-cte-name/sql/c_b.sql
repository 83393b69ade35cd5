select * from c_a
