select country, sum(gross) as revenue, count(*) as orders
from orders_joined
group by country
