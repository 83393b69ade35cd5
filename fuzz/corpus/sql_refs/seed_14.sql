select
    l.l_orderkey as order_key,
    l.l_linenumber as line_number,
    l.l_partkey as part_key,
    l.l_suppkey as supp_key,
    o.o_custkey as cust_key,
    o.o_orderdate as order_date,
    o.o_orderpriority as order_priority,
    o.o_orderstatus as order_status,
    l.l_shipdate as ship_date,
    l.l_commitdate as commit_date,
    l.l_receiptdate as receipt_date,
    l.l_shipmode as ship_mode,
    l.l_shipinstruct as ship_instruct,
    l.l_returnflag as return_flag,
    l.l_linestatus as line_status,
    l.l_quantity as quantity,
    l.l_extendedprice as extended_price,
    l.l_discount as discount,
    l.l_tax as tax,
    l.l_extendedprice * (1 - l.l_discount) as net_revenue,
    c.c_name as customer_name,
    c.c_mktsegment as market_segment,
    cn.n_name as customer_nation,
    cr.r_name as customer_region,
    s.s_name as supplier_name,
    sn.n_name as supplier_nation,
    p.p_name as part_name,
    p.p_brand as part_brand,
    p.p_type as part_type,
    p.p_size as part_size,
    p.p_container as part_container
from raw.lineitem l
join raw.orders o on o.o_orderkey = l.l_orderkey
join raw.customer c on c.c_custkey = o.o_custkey
join raw.nation cn on cn.n_nationkey = c.c_nationkey
join raw.region cr on cr.r_regionkey = cn.n_regionkey
join raw.supplier s on s.s_suppkey = l.l_suppkey
join raw.nation sn on sn.n_nationkey = s.s_nationkey
join raw.part p on p.p_partkey = l.l_partkey
