select
    nullif(trim(account_key), '') as account_key,
    {{ website_domain('domain') }} as domain,
    trim(topic) as topic,
    signal_date,
    intensity,
    provider
from {{ source('raw', 'intent_signals') }}
