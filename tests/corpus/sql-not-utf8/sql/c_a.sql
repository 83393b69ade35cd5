select 'ÿþ' as x
