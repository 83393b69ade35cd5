select 1 as ""
