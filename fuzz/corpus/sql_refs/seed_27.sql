select
    ship_mode,
    sum(case when order_priority in ('1-URGENT', '2-HIGH') then 1 else 0 end) as high_line_count,
    sum(case when order_priority not in ('1-URGENT', '2-HIGH') then 1 else 0 end) as low_line_count
from fct_lineitem
where ship_mode in ('MAIL', 'SHIP')
  and commit_date < receipt_date
  and ship_date < commit_date
  and receipt_date >= date '1994-01-01' and receipt_date < date '1995-01-01'
group by ship_mode
order by ship_mode
