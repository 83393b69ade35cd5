-- daily_revenue counts every completed order exactly once: this returns the
-- channels where its revenue and the orders' own total disagree.
with orders as (
    select channel, sum(amount) as revenue
    from orders_enriched
    where status = 'completed'
    group by channel
),
daily as (
    select channel, sum(revenue) as revenue
    from daily_revenue
    group by channel
)
select
    coalesce(o.channel, d.channel) as channel,
    o.revenue as orders_revenue,
    d.revenue as daily_revenue
from orders o
full join daily d on d.channel = o.channel
where o.revenue is distinct from d.revenue
