select id from base
