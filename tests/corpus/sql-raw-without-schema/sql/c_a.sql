select * from people
