select ps_partkey as part_key, count(*) as suppliers, min(ps_supplycost) as min_cost, sum(ps_availqty) as available
from raw.partsupp
group by ps_partkey
