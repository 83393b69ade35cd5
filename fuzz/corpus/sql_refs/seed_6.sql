select
    event_id,
    user_id,
    event_type,
    cast(ts as timestamp) as event_at,
    page,
    cast(cast(ts as timestamp) as date) as event_date
from raw.events
