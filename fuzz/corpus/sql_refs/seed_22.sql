select
    return_flag,
    line_status,
    sum(quantity) as sum_qty,
    sum(extended_price) as sum_base_price,
    sum(net_revenue) as sum_disc_price,
    sum(net_revenue * (1 + tax)) as sum_charge,
    avg(quantity) as avg_qty,
    avg(extended_price) as avg_price,
    avg(discount) as avg_disc,
    count(*) as count_order
from fct_lineitem
where ship_date <= date '1998-09-02'
group by return_flag, line_status
order by return_flag, line_status
