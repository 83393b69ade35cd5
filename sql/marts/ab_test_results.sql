-- The checkout button colour test: each variant against control. A user
-- converts when they complete an order within 14 days of being assigned;
-- their revenue is what they spent in those 14 days (0 if nothing).
with assigned as (
    select user_id, variant, assigned_at
    from stg_ab_assignments
    where experiment = 'checkout_button_color'
),
per_user as (
    select
        a.user_id,
        a.variant,
        count(o.order_id) > 0 as converted,
        coalesce(sum(o.amount), 0) as revenue
    from assigned a
    left join stg_orders o
      on o.user_id = a.user_id
     and o.status = 'completed'
     and o.ordered_at >= a.assigned_at
     and o.ordered_at < a.assigned_at + interval '14 days'
    group by a.user_id, a.variant
),
per_variant as (
    select
        variant,
        count(*) as users,
        count(*) filter (where converted) as conversions,
        arm_stats(revenue) as revenue
    from per_user
    group by variant
),
compared as (
    select v.*, c.users as control_users, c.conversions as control_conversions, c.revenue as control_revenue
    from per_variant v
    cross join (select * from per_variant where variant = 'control') c
)
select
    variant,
    users,
    conversions,
    round(cast(conversions as double) / users, 4) as conversion_rate,
    -- Against control (null on control's own row).
    case when variant <> 'control' then round(
        (cast(conversions as double) / users) / (cast(control_conversions as double) / control_users) - 1, 4)
    end as lift,
    case when variant <> 'control' then round(ab_lift_low(conversions, users, control_conversions, control_users, 0.95), 4) end as lift_low,
    case when variant <> 'control' then round(ab_lift_high(conversions, users, control_conversions, control_users, 0.95), 4) end as lift_high,
    case when variant <> 'control' then round(ab_z_pvalue(conversions, users, control_conversions, control_users), 4) end as p_value,
    round(revenue['mean'], 2) as revenue_per_user,
    case when variant <> 'control' then round(welch_t_pvalue(
        revenue['users'], revenue['mean'], revenue['variance'],
        control_revenue['users'], control_revenue['mean'], control_revenue['variance']), 4)
    end as revenue_p_value,
    -- The split was meant to be even: a small value means the assignment is broken.
    case when variant <> 'control' then round(srm_pvalue(users, control_users, 0.5), 4) end as srm_p_value
from compared
order by variant
