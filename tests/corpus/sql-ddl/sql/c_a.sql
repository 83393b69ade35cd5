create table c_a as select 1
