-- Each order with who placed it: their channel and signup cohort.
select
    o.order_id,
    o.user_id,
    o.ordered_at,
    o.order_date,
    o.amount,
    o.status,
    u.channel,
    u.signup_month,
    u.signup_at
from stg_orders o
join stg_users u on u.user_id = o.user_id
