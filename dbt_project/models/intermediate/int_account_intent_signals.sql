-- Third-party intent signals attributed to accounts: by account_key when the provider sent one,
-- else by the account whose website has the signal's domain (only when that domain is unique).
with accounts_by_domain as (
    select website_domain, account_key
    from {{ ref('stg_accounts') }}
    where website_domain is not null
    qualify count(*) over (partition by website_domain) = 1
)

select
    coalesce(signals.account_key, accounts_by_domain.account_key) as account_key,
    signals.topic,
    signals.signal_date,
    signals.intensity
from {{ ref('stg_intent_signals') }} as signals
left join accounts_by_domain on signals.domain = accounts_by_domain.website_domain
where coalesce(signals.account_key, accounts_by_domain.account_key) is not null
