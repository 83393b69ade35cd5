with o as (
    select order_id, customer_id, amount * 1.2 as gross
    from raw.orders
    where ordered_at > '2025-01-01'
)
select o.order_id, c.name as customer, c.country, o.gross
from o
join stg_customers c on c.customer_id = o.customer_id
