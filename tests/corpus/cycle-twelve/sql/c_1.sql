select * from c_2
