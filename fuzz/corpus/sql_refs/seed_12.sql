select
    cust_key,
    count(*) as orders,
    sum(revenue) as revenue,
    min(order_date) as first_order,
    max(order_date) as last_order,
    sum(late_lines) as late_lines
from order_facts
group by cust_key
