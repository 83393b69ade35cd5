select * from c_10
