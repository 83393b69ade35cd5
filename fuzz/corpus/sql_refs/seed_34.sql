select id as customer_id, upper(name) as name, country from raw.customers
