select * from bse
