select
    nation,
    year,
    revenue,
    revenue / lag(revenue) over (partition by nation order by year) - 1 as growth
from revenue_by_nation_year
order by nation, year
