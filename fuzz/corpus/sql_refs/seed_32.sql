select country, revenue, rank() over (order by revenue desc) as position
from by_country
