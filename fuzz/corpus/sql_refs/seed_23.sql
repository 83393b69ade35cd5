select
    extract(year from ship_date) as year,
    extract(month from ship_date) as month,
    100.00 * sum(case when part_type like 'PROMO%' then net_revenue else 0 end) / sum(net_revenue) as promo_revenue_pct
from fct_lineitem
group by extract(year from ship_date), extract(month from ship_date)
order by year, month
