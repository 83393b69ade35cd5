select
    user_id,
    experiment,
    variant,
    cast(assigned_at as timestamp) as assigned_at
from raw.ab_assignments
