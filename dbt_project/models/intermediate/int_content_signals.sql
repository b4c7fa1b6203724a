-- Which content signal (seed content_signals: the high-intent pricing, demo_request,
-- contact_sales, and product_docs, research) each distinct (web_path, asset_name) of the
-- experience events shows.
with content as (
    select distinct web_path, asset_name
    from {{ ref('stg_experience_events') }}
    where web_path is not null or asset_name is not null
),

matched as (
    select content.web_path, content.asset_name, signals.signal
    from content
    join {{ ref('content_signals') }} as signals
        on (signals.field = 'web_path' and content.web_path ilike signals.pattern)
        or (signals.field = 'asset_name' and content.asset_name ilike signals.pattern)
)

select
    coalesce(web_path, '') as web_path_key,
    coalesce(asset_name, '') as asset_name_key,
    bool_or(signal = 'pricing') as is_pricing,
    bool_or(signal = 'demo_request') as is_demo_request,
    bool_or(signal = 'contact_sales') as is_contact_sales,
    bool_or(signal = 'product_docs') as is_product_docs,
    bool_or(signal = 'research') as is_research
from matched
group by all
