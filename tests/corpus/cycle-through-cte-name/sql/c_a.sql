with x as (select * from c_b) select * from x
