with counts as (
    select c.c_custkey, count(o.o_orderkey) as c_count
    from raw.customer c
    left join raw.orders o
      on c.c_custkey = o.o_custkey and o.o_comment not like '%special%requests%'
    group by c.c_custkey
)
select c_count, count(*) as custdist
from counts
group by c_count
order by custdist desc, c_count desc
