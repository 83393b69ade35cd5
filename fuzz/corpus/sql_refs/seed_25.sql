select customer_nation as nation, extract(year from order_date) as year, sum(net_revenue) as revenue, count(*) as lines
from fct_lineitem
group by customer_nation, extract(year from order_date)
