{# The feature queries, one definition for both families of feature tables: the daily ones
   (person_features, account_features: the as-of dates of a Dagster partition range) and the
   weekly history (person_feature_history, account_feature_history: training snapshots).
   `schedule` says which as-of dates to build (as_of.sql); everything uses data strictly before
   each as-of date. #}

{# Rows of `relation` (dated by `date_column`) paired with each as-of date of the schedule they
   reach, 1..`lookback_days` days later, with `days_before` = as_of_date - date. Each row is
   expanded only to the schedule's dates (every step_days from its first date), so one pass
   serves one date, a partition range or weekly snapshots without materializing the days
   between weekly snapshots. #}
{% macro rows_reaching_as_of_dates(relation, date_column, lookback_days, schedule) -%}
{%- set first, last = date_literal(schedule.first), date_literal(schedule.last) -%}
{%- set step = schedule.step_days -%}
select reaching.*, cast(reaching.{{ date_column }} + reaching.days_before as date) as as_of_date
from (
    select
        source_rows.*,
        -- The first schedule date after the row's date is first + k * step with
        -- k = ceil((date - first + 1) / step), at least 0.
        cast(unnest(range(
            greatest(0, (source_rows.{{ date_column }} - {{ first }} + {{ step }}) // {{ step }}) * {{ step }}
                - (source_rows.{{ date_column }} - {{ first }}),
            least({{ lookback_days }}, {{ last }} - source_rows.{{ date_column }}) + 1,
            {{ step }}
        )) as integer) as days_before
    from {{ relation }} as source_rows
    where source_rows.{{ date_column }} >= {{ first }} - {{ lookback_days }}
        and source_rows.{{ date_column }} < {{ last }}
) as reaching
{%- endmacro %}


{# Windowed activity of every person active in the 90 days before an as-of date (others are
   absent): counts over 7/30/90 days, active days, the 21 days before the last 7 and the
   recency-decayed engagement score. Materialized once per family (person_activity,
   person_activity_history) and read by both the account and the person features. #}
{% macro person_activity_sql(schedule) -%}
with by_as_of_date as (
    {{ rows_reaching_as_of_dates(ref('int_person_activity_days'), 'event_date', 90, schedule) | indent(4) }}
)

select
    person_key,
    as_of_date,
    {%- for window in activity_windows() %}
    {%- for measure in activity_measures() %}
    sum(case when days_before <= {{ window }} then {{ measure }} else 0 end)::integer as {{ measure }}_{{ window }}d,
    {%- endfor %}
    {%- endfor %}
    sum(emails_sent)::integer as emails_sent_90d,
    sum(case when engagement_events > 0 and days_before <= 30 then 1 else 0 end)::integer as active_days_30d,
    sum(case when engagement_events > 0 then 1 else 0 end)::integer as active_days_90d,
    sum(case when days_before > 7 and days_before <= 28 then engagement_events else 0 end)::integer
        as engagement_events_prior_21d,
    -- Where a buying journey is (NULL when none): the last research and high-intent events, and
    -- the first research event of the last 60 days, about when a journey still open started.
    min(case when research_events > 0 then days_before end) as days_since_research,
    min(case when high_intent_events > 0 then days_before end) as days_since_high_intent,
    max(case when research_events > 0 and days_before <= 60 then days_before end) as days_since_first_research_60d,
    -- Rounded: parallel sums of doubles differ in the last bits from run to run.
    round(sum(engagement_events * pow(0.5, days_before / {{ var('engagement_half_life_days') }})), 6)
        as engagement_score
from by_as_of_date
group by person_key, as_of_date
{%- endmacro %}


{# One row per account and as-of date: firmographics as known then, the activity of the persons
   linked to the account then (buying committee), third-party intent over 30 days and the
   opportunity history. #}
{% macro account_features_sql(schedule, person_activity) -%}
with as_of_dates as (
    {{ as_of_dates_sql(schedule) }}
),

accounts as (
    {{ versions_as_of(ref('int_account_versions'), 'as_of_dates') }}
),

members as (
    {{ versions_as_of(ref('int_person_versions'), 'as_of_dates') }}
    where versions.account_key is not null
),

committee as (
    select
        members.account_key,
        members.as_of_date,
        count(*) as known_persons,
        count(*) filter (where activity.engagement_events_30d > 0) as engaged_persons_30d,
        count(*) filter (where activity.engagement_events_90d > 0) as engaged_persons_90d,
        count(distinct members.job_function) filter (where activity.engagement_events_90d > 0)
            as engaged_functions_90d,
        count(distinct members.job_seniority) filter (where activity.engagement_events_90d > 0)
            as engaged_seniorities_90d,
        count(*) filter (
            where activity.engagement_events_90d > 0
                and members.job_seniority in {{ decision_maker_seniorities() }}
        ) as engaged_decision_makers_90d,
        {%- for column in windowed_activity_columns() %}
        coalesce(sum(activity.{{ column }}), 0)::integer as {{ column }},
        {%- endfor %}
        round(coalesce(sum(activity.engagement_score), 0), 6) as engagement_score
    from members
    left join {{ person_activity }} as activity
        on members.person_key = activity.person_key and members.as_of_date = activity.as_of_date
    group by members.account_key, members.as_of_date
),

intent_reaching as (
    {{ rows_reaching_as_of_dates(ref('int_account_intent_signals'), 'signal_date', 30, schedule) | indent(4) }}
),

intent as (
    select
        intent_reaching.account_key,
        intent_reaching.as_of_date,
        count(distinct intent_reaching.topic) as intent_topics_30d,
        count(*) as intent_signals_30d,
        count(*) filter (where intent_reaching.days_before <= 7) as intent_signals_7d,
        max(intent_reaching.intensity) as intent_max_intensity_30d,
        round(avg(intent_reaching.intensity), 6) as intent_mean_intensity_30d
    from intent_reaching
    group by all
),

intent_signal_dates as (
    select distinct account_key, signal_date
    from {{ ref('int_account_intent_signals') }}
),

opportunities as (
    select
        opportunities.account_key,
        as_of_dates.as_of_date,
        count(*) as prior_opportunities,
        count(*) filter (
            where opportunities.closed_at is null or opportunities.closed_at >= as_of_dates.as_of_date
        ) as open_opportunities,
        count(*) filter (where opportunities.won_at < as_of_dates.as_of_date) as won_opportunities,
        min(as_of_dates.as_of_date - cast(opportunities.opened_at as date)) as days_since_last_opportunity
    from {{ ref('int_opportunities') }} as opportunities
    join as_of_dates on opportunities.opened_at < as_of_dates.as_of_date
    group by all
)

select
    accounts.account_key,
    accounts.as_of_date,
    accounts.industry,
    accounts.country,
    accounts.number_of_employees,
    {{ employee_band('accounts.number_of_employees') }} as employee_band,
    accounts.annual_revenue,
    {{ revenue_band('accounts.annual_revenue') }} as revenue_band,
    round(accounts.annual_revenue / nullif(accounts.number_of_employees, 0), 2) as revenue_per_employee,
    accounts.as_of_date - cast(accounts.created_at as date) as account_age_days,
    coalesce(committee.known_persons, 0) as known_persons,
    coalesce(committee.engaged_persons_30d, 0) as engaged_persons_30d,
    coalesce(committee.engaged_persons_90d, 0) as engaged_persons_90d,
    coalesce(committee.engaged_functions_90d, 0) as engaged_functions_90d,
    coalesce(committee.engaged_seniorities_90d, 0) as engaged_seniorities_90d,
    coalesce(committee.engaged_decision_makers_90d, 0) as engaged_decision_makers_90d,
    {%- for column in windowed_activity_columns() %}
    coalesce(committee.{{ column }}, 0) as {{ column }},
    {%- endfor %}
    coalesce(committee.engagement_score, 0) as engagement_score,
    coalesce(intent.intent_topics_30d, 0) as intent_topics_30d,
    coalesce(intent.intent_signals_30d, 0) as intent_signals_30d,
    coalesce(intent.intent_signals_7d, 0) as intent_signals_7d,
    coalesce(intent.intent_max_intensity_30d, 0) as intent_max_intensity_30d,
    coalesce(intent.intent_mean_intensity_30d, 0) as intent_mean_intensity_30d,
    accounts.as_of_date - intent_signal_dates.signal_date as days_since_intent_signal,
    coalesce(opportunities.prior_opportunities, 0) as prior_opportunities,
    coalesce(opportunities.open_opportunities, 0) as open_opportunities,
    coalesce(opportunities.won_opportunities, 0) as won_opportunities,
    opportunities.days_since_last_opportunity
from accounts
left join committee
    on accounts.account_key = committee.account_key and accounts.as_of_date = committee.as_of_date
left join intent
    on accounts.account_key = intent.account_key and accounts.as_of_date = intent.as_of_date
left join opportunities
    on accounts.account_key = opportunities.account_key and accounts.as_of_date = opportunities.as_of_date
asof left join intent_signal_dates
    on accounts.account_key = intent_signal_dates.account_key
    and accounts.as_of_date > intent_signal_dates.signal_date
{%- endmacro %}


{# One row per person and as-of date: profile as known then (job title parsed into function and
   seniority), own activity (windowed counts, recency, velocity, decayed engagement, e-mail
   engagement rates), and firmographics and context of the person's account from
   `account_features` (the same family's account table). #}
{% macro person_features_sql(schedule, person_activity, account_features) -%}
with as_of_dates as (
    {{ as_of_dates_sql(schedule) }}
),

persons as (
    {{ versions_as_of(ref('int_person_versions'), 'as_of_dates') }}
),

{% if schedule.first == schedule.last -%}
-- One as-of date (a daily run): lifetime totals are one aggregate over the events.
lifetime_as_of as (
    select
        person_key,
        {{ date_literal(schedule.first) }} as as_of_date,
        count(*) filter (where {{ is_engagement('event_type') }}) as engagement_events_lifetime,
        count(*) filter (where {{ is_lead_conversion('event_type') }}) as lead_conversions_lifetime,
        max(event_date) filter (where {{ is_engagement('event_type') }}) as last_engaged_date
    from {{ ref('stg_experience_events') }}
    where event_date < {{ date_literal(schedule.first) }}
    group by person_key
)
{%- else -%}
-- Many as-of dates: running totals, looked up at each date.
lifetime as (
    select
        person_key,
        event_date,
        (sum(engagement_events) over history)::integer as engagement_events_lifetime,
        (sum(lead_conversions) over history)::integer as lead_conversions_lifetime,
        max(case when engagement_events > 0 then event_date end) over history as last_engaged_date
    from {{ ref('int_person_activity_days') }}
    where event_date < {{ date_literal(schedule.last) }} and (engagement_events > 0 or lead_conversions > 0)
    window history as (partition by person_key order by event_date rows unbounded preceding)
),

-- The ASOF join runs on the narrow (person, date) grid: carrying the wide rows through it is slow.
lifetime_as_of as (
    select persons.person_key, persons.as_of_date, lifetime.*
    from (select person_key, as_of_date from persons) as persons
    asof left join lifetime
        on persons.person_key = lifetime.person_key and persons.as_of_date > lifetime.event_date
)
{%- endif %},

-- What sales decided strictly before the as-of date (the dispositions feedback loop).
dispositions_as_of as (
    select
        persons.person_key,
        persons.as_of_date,
        dispositions.disposition_date,
        dispositions.last_disposition,
        dispositions.dispositions_lifetime,
        dispositions.rejections_lifetime
    from (select person_key, as_of_date from persons) as persons
    asof left join {{ ref('int_person_dispositions') }} as dispositions
        on persons.person_key = dispositions.person_key and persons.as_of_date > dispositions.disposition_date
)

select
    persons.person_key,
    persons.as_of_date,
    persons.account_key,
    persons.as_of_date - cast(persons.created_at as date) as tenure_days,
    persons.country,
    persons.job_function,
    persons.job_seniority,
    persons.has_personal_email,
    persons.email_domain is not null and not persons.has_personal_email as has_work_email,
    accounts.industry,
    accounts.number_of_employees,
    accounts.employee_band,
    accounts.annual_revenue,
    accounts.revenue_band,
    accounts.revenue_per_employee,
    accounts.account_age_days,
    {%- for column in windowed_activity_columns() %}
    coalesce(activity.{{ column }}, 0) as {{ column }},
    {%- endfor %}
    coalesce(activity.emails_sent_90d, 0) as emails_sent_90d,
    coalesce(activity.active_days_30d, 0) as active_days_30d,
    coalesce(activity.active_days_90d, 0) as active_days_90d,
    coalesce(activity.engagement_score, 0) as engagement_score,
    -- Last 7 days against the weekly average of the 21 before; 1 = steady, > 1 = accelerating.
    (coalesce(activity.engagement_events_7d, 0) + 1)
        / (coalesce(activity.engagement_events_prior_21d, 0) / 3 + 1) as engagement_velocity,
    activity.emails_opened_90d / nullif(activity.emails_sent_90d, 0) as email_open_rate_90d,
    activity.emails_clicked_90d / nullif(activity.emails_sent_90d, 0) as email_click_rate_90d,
    persons.as_of_date - lifetime.last_engaged_date as days_since_last_activity,
    activity.days_since_research,
    activity.days_since_high_intent,
    activity.days_since_first_research_60d,
    coalesce(lifetime.engagement_events_lifetime, 0) as engagement_events_lifetime,
    coalesce(lifetime.lead_conversions_lifetime, 0) > 0 as has_converted,
    coalesce(accounts.engaged_persons_30d, 0) as account_engaged_persons_30d,
    coalesce(accounts.engaged_persons_90d, 0) as account_engaged_persons_90d,
    coalesce(accounts.engaged_functions_90d, 0) as account_engaged_functions_90d,
    coalesce(accounts.engaged_seniorities_90d, 0) as account_engaged_seniorities_90d,
    coalesce(accounts.engaged_decision_makers_90d, 0) as account_engaged_decision_makers_90d,
    coalesce(accounts.intent_topics_30d, 0) as account_intent_topics_30d,
    coalesce(accounts.intent_max_intensity_30d, 0) as account_intent_max_intensity_30d,
    accounts.days_since_intent_signal as account_days_since_intent_signal,
    coalesce(accounts.prior_opportunities, 0) as account_prior_opportunities,
    coalesce(accounts.open_opportunities, 0) as account_open_opportunities,
    coalesce(accounts.won_opportunities, 0) as account_won_opportunities,
    dispositions.last_disposition,
    persons.as_of_date - dispositions.disposition_date as days_since_disposition,
    coalesce(dispositions.dispositions_lifetime, 0) as dispositions_lifetime,
    coalesce(dispositions.rejections_lifetime, 0) as rejections_lifetime
from persons
left join {{ person_activity }} as activity
    on persons.person_key = activity.person_key and persons.as_of_date = activity.as_of_date
left join {{ account_features }} as accounts
    on persons.account_key = accounts.account_key and persons.as_of_date = accounts.as_of_date
left join lifetime_as_of as lifetime
    on persons.person_key = lifetime.person_key and persons.as_of_date = lifetime.as_of_date
left join dispositions_as_of as dispositions
    on persons.person_key = dispositions.person_key and persons.as_of_date = dispositions.as_of_date
{%- endmacro %}
