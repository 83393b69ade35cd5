-- Built only on other models: revenue from daily_revenue, retention from cohort_retention.
with revenue as (
    select channel, sum(revenue) as revenue, sum(orders) as orders
    from daily_revenue
    group by channel
),
retention as (
    select
        channel,
        sum(cohort_size) filter (where months_since_signup = 0) as users,
        sum(active_users) filter (where months_since_signup = 1) as active_month_1,
        sum(cohort_size) filter (where months_since_signup = 1) as cohort_size_month_1
    from cohort_retention
    group by channel
)
select
    r.channel,
    t.users,
    r.orders,
    r.revenue,
    round(cast(r.revenue as double) / t.users, 2) as revenue_per_user,
    round(cast(t.active_month_1 as double) / t.cohort_size_month_1, 4) as month_1_retention
from revenue r
join retention t on t.channel = r.channel
order by r.revenue desc
