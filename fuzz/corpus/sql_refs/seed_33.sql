select country, position, revenue / (select sum(revenue) from by_country) as share
from ranked
union all
select 'total', 0, 1.0
