select
    event_id,
    person_key,
    "timestamp" as event_at,
    cast("timestamp" as date) as event_date,
    event_type,
    case when web_url is not null then {{ url_path('web_url') }} end as web_path,
    campaign,
    asset_name,
    converted_status
from {{ source('raw', 'experience_events') }}
