-- A user converts when they complete an order within 14 days of being assigned.
with assigned as (
    select user_id, variant, assigned_at
    from stg_ab_assignments
    where experiment = 'checkout_button_color'
),
conversions as (
    select distinct a.user_id
    from assigned a
    join stg_orders o
      on o.user_id = a.user_id
     and o.status = 'completed'
     and o.ordered_at >= a.assigned_at
     and o.ordered_at < a.assigned_at + interval '14 days'
),
per_variant as (
    select
        a.variant,
        count(*) as users,
        count(c.user_id) as conversions,
        cast(count(c.user_id) as double) / count(*) as conversion_rate
    from assigned a
    left join conversions c on c.user_id = a.user_id
    group by a.variant
)
select
    v.variant,
    v.users,
    v.conversions,
    round(v.conversion_rate, 4) as conversion_rate,
    round(v.conversion_rate / ctl.conversion_rate - 1, 4) as lift
from per_variant v
cross join (select conversion_rate from per_variant where variant = 'control') ctl
order by v.variant
