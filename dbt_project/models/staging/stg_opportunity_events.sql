select
    event_id,
    opportunity_key,
    account_key,
    person_key,
    "timestamp" as event_at,
    attribute_name,
    old_value,
    new_value,
    amount
from {{ source('raw', 'opportunity_events') }}
