select customer_nation as nation, sum(net_revenue) as revenue
from fct_lineitem
where customer_nation = supplier_nation
  and customer_region = 'ASIA'
  and order_date >= date '1994-01-01' and order_date < date '1995-01-01'
group by customer_nation
order by revenue desc
