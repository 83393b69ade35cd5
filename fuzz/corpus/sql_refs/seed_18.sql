select date_trunc('month', ship_date) as month, ship_mode, sum(net_revenue) as revenue, sum(quantity) as quantity
from fct_lineitem
group by date_trunc('month', ship_date), ship_mode
