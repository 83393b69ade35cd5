select * from c_7
