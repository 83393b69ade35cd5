-- Orders without the internal test orders; amounts as decimals.
select
    order_id,
    user_id,
    cast(ordered_at as timestamp) as ordered_at,
    cast(cast(ordered_at as timestamp) as date) as order_date,
    cast(amount as decimal(12, 2)) as amount,
    status
from raw.orders
where status <> 'test'
