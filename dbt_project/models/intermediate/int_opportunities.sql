-- Each opportunity's life from its stage history: when it was opened (first event), closed
-- (first move to Closed Won or Closed Lost) and won.
select
    opportunity_key,
    arg_min(account_key, event_at) as account_key,
    min(event_at) as opened_at,
    min(event_at) filter (
        where attribute_name = 'Stage' and new_value in ('Closed Won', 'Closed Lost')
    ) as closed_at,
    min(event_at) filter (where attribute_name = 'Stage' and new_value = 'Closed Won') as won_at
from {{ ref('stg_opportunity_events') }}
group by opportunity_key
