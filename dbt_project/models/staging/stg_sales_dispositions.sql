select
    person_key,
    lower(trim(disposition)) as disposition,
    "timestamp" as disposition_at,
    reason
from {{ source('raw', 'sales_dispositions') }}
