select
    l.cust_key,
    c.c_mktsegment as market_segment,
    l.revenue,
    case
        when l.revenue >= 2000000 then 'platinum'
        when l.revenue >= 1000000 then 'gold'
        when l.revenue >= 300000 then 'silver'
        else 'bronze'
    end as tier
from customer_ltv l
join raw.customer c on c.c_custkey = l.cust_key
