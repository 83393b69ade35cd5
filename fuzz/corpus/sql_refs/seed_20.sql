select
    order_key,
    cust_key,
    order_date,
    count(*) as lines,
    sum(net_revenue) as revenue,
    sum(case when receipt_date > commit_date then 1 else 0 end) as late_lines
from fct_lineitem
group by order_key, cust_key, order_date
