select 1 frm base
