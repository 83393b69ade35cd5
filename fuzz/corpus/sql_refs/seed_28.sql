select order_key, order_date, sum(net_revenue) as revenue
from fct_lineitem
where market_segment = 'BUILDING'
  and order_date < date '1995-03-15'
  and ship_date > date '1995-03-15'
group by order_key, order_date
order by revenue desc, order_date
limit 100
