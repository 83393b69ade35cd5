-- Cohort = signup month and channel. A user is active in a month when they
-- signed up, ordered or produced an event in it, so month 0 holds the
-- whole cohort and retention is measured against it.
with activity as (
    select user_id, signup_month as active_month from stg_users
    union
    select user_id, cohort_period('month', ordered_at) from stg_orders
    union
    select user_id, cohort_period('month', event_at) from stg_events
),
active as (
    select
        u.signup_month as cohort_month,
        u.channel,
        periods_between('month', u.signup_month, a.active_month) as months_since_signup,
        count(distinct a.user_id) as active_users
    from activity a
    join stg_users u on u.user_id = a.user_id
    where a.active_month >= u.signup_month
    group by 1, 2, 3
)
select
    cohort_month,
    channel,
    cast(months_since_signup as int) as months_since_signup,
    sum(case when months_since_signup = 0 then active_users end)
        over (partition by cohort_month, channel) as cohort_size,
    active_users,
    round(retention(active_users, months_since_signup) over (partition by cohort_month, channel), 4) as retention
from active
order by cohort_month, channel, months_since_signup
