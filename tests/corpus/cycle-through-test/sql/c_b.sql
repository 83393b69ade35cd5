select id from c_a
