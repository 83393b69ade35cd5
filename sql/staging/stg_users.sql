-- Users, typed, with the channel normalised ("TikTok", " tiktok" -> "tiktok").
select
    user_id,
    cast(signup_at as timestamp) as signup_at,
    lower(trim(channel)) as channel,
    country,
    cohort_period('month', cast(signup_at as timestamp)) as signup_month
from raw.users
