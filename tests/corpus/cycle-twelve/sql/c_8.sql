select * from c_9
