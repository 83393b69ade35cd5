-- Cohort = signup month and channel. A user is active in a month when they
-- ordered or produced an event in it.
with activity as (
    select user_id, cast(date_trunc('month', ordered_at) as date) as active_month from stg_orders
    union
    select user_id, cast(date_trunc('month', event_at) as date) as active_month from stg_events
),
cohorts as (
    select signup_month as cohort_month, channel, count(*) as cohort_size
    from stg_users
    group by signup_month, channel
),
active as (
    select
        u.signup_month as cohort_month,
        u.channel,
        (extract(year from a.active_month) - extract(year from u.signup_month)) * 12
            + extract(month from a.active_month) - extract(month from u.signup_month) as months_since_signup,
        count(distinct a.user_id) as active_users
    from activity a
    join stg_users u on u.user_id = a.user_id
    where a.active_month >= u.signup_month
    group by 1, 2, 3
)
select
    c.cohort_month,
    c.channel,
    cast(a.months_since_signup as int) as months_since_signup,
    c.cohort_size,
    a.active_users,
    round(cast(a.active_users as double) / c.cohort_size, 4) as retention
from cohorts c
join active a on a.cohort_month = c.cohort_month and a.channel = c.channel
order by c.cohort_month, c.channel, months_since_signup
