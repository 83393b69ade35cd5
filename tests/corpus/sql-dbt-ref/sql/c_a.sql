select a
from {{ ref('c_b') }}
