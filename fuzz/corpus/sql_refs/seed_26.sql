select market_segment, tier, count(*) as customers, sum(revenue) as revenue, avg(revenue) as avg_revenue
from customer_segments
group by market_segment, tier
order by market_segment, tier
