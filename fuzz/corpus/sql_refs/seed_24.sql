select cust_key, customer_name, customer_nation, sum(net_revenue) as revenue
from fct_lineitem
where return_flag = 'R'
  and order_date >= date '1993-10-01' and order_date < date '1994-01-01'
group by cust_key, customer_name, customer_nation
order by revenue desc, cust_key
limit 20
