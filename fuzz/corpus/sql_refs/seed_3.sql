select
    order_date,
    channel,
    count(*) filter (where status = 'completed') as orders,
    count(distinct user_id) filter (where status = 'completed') as customers,
    coalesce(sum(amount) filter (where status = 'completed'), 0) as revenue,
    coalesce(sum(amount) filter (where status = 'refunded'), 0) as refunds
from orders_enriched
group by order_date, channel
order by order_date, channel
