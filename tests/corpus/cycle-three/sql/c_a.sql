select * from c_c
