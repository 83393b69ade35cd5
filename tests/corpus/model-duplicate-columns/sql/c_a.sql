select id, id from base
