-- Activity of each person per day (INTEGER counts: sums of them stay BIGINT, not HUGEINT, which
-- keeps the windowed sums fast).
select
    events.person_key,
    events.event_date,
    cast(count(*) filter (where {{ is_engagement('events.event_type') }}) as integer) as engagement_events,
    cast(count(*) filter (where events.event_type = 'web.webpagedetails.pageViews') as integer) as page_views,
    cast(count(*) filter (where events.event_type = 'directMarketing.emailSent') as integer) as emails_sent,
    cast(count(*) filter (where events.event_type = 'directMarketing.emailOpened') as integer) as emails_opened,
    cast(count(*) filter (where events.event_type = 'directMarketing.emailClicked') as integer) as emails_clicked,
    cast(count(*) filter (where events.event_type = 'web.formFilledOut') as integer) as forms_filled,
    cast(count(*) filter (where events.event_type = 'application.webinarAttended') as integer) as webinars_attended,
    cast(count(*) filter (where events.event_type = 'web.contentDownloaded') as integer) as content_downloads,
    cast(count(*) filter (where signals.is_pricing) as integer) as pricing_visits,
    cast(count(*) filter (where signals.is_demo_request) as integer) as demo_requests,
    cast(count(*) filter (where signals.is_contact_sales) as integer) as contact_sales_requests,
    cast(count(*) filter (where signals.is_product_docs) as integer) as product_docs_visits,
    -- Buying-journey phases: research (product, comparison, case-study pages, buyer's guides) and
    -- high intent (pricing, demo request, contact sales).
    cast(count(*) filter (where signals.is_research) as integer) as research_events,
    cast(count(*) filter (where signals.is_pricing or signals.is_demo_request or signals.is_contact_sales) as integer)
        as high_intent_events,
    cast(count(*) filter (where {{ is_lead_conversion('events.event_type') }}) as integer) as lead_conversions
from {{ ref('stg_experience_events') }} as events
left join {{ ref('int_content_signals') }} as signals
    on coalesce(events.web_path, '') = signals.web_path_key
    and coalesce(events.asset_name, '') = signals.asset_name_key
group by events.person_key, events.event_date
