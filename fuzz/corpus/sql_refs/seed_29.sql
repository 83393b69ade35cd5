select
    f.supp_key,
    f.supplier_name,
    f.supplier_nation,
    count(*) as lines,
    sum(case when f.receipt_date > f.commit_date then 1 else 0 end) as late_lines,
    sum(f.net_revenue) as revenue,
    min(c.min_cost) as min_part_cost
from fct_lineitem f
join part_supplier_cost c on c.part_key = f.part_key
group by f.supp_key, f.supplier_name, f.supplier_nation
