{# The half-open range [as_of_start, as_of_end) of as-of dates a feature run builds. Features for
   as-of date d use only data strictly before d (00:00 UTC). Without vars: today (UTC) only. #}
{% macro as_of_date_var(name, default_offset_days) -%}
    {%- set value = var(name) -%}
    {%- if value is none -%}
        {%- set day = modules.datetime.datetime.utcnow().date() + modules.datetime.timedelta(days=default_offset_days) -%}
    {%- else -%}
        {%- set day = modules.datetime.date.fromisoformat(value | string) -%}
    {%- endif -%}
    date '{{ day.isoformat() }}'
{%- endmacro %}

{% macro as_of_start() -%}{{ as_of_date_var('as_of_start', 0) }}{%- endmacro %}

{% macro as_of_end() -%}{{ as_of_date_var('as_of_end', 1) }}{%- endmacro %}

{# One row per as-of date of the run. #}
{% macro as_of_dates() -%}
    select cast(unnest(generate_series({{ as_of_start() }}, {{ as_of_end() }} - interval 1 day, interval 1 day)) as date) as as_of_date
{%- endmacro %}

{# Versions of a type-2 profile history valid at each as-of date, for records created before it:
   `versions` has valid_from, valid_to (NULL while current) and created_at; `dates` has as_of_date. #}
{% macro versions_as_of(versions, dates) -%}
    select dates.as_of_date, versions.*
    from {{ versions }} as versions
    join {{ dates }} as dates
        on versions.created_at < dates.as_of_date
        and versions.valid_from < dates.as_of_date
        and (versions.valid_to is null or versions.valid_to >= dates.as_of_date)
{%- endmacro %}

{# As-of dates of the weekly feature history: every Monday after the first experience event up to
   the day after the last one. A run adds the Mondays not built yet and rebuilds the last four,
   which late-arriving events may have changed. #}
{% macro history_as_of_dates() -%}
    with span as (
        select min(event_date) as first_event_date, max(event_date) as last_event_date
        from {{ ref('stg_experience_events') }}
    ),

    mondays as (
        select cast(unnest(generate_series(
            date_trunc('week', first_event_date) + interval 7 day,
            last_event_date + interval 1 day,
            interval 7 day
        )) as date) as as_of_date
        from span
    )

    select as_of_date
    from mondays
    {%- if is_incremental() %}
    where as_of_date not in (select distinct as_of_date from {{ this }})
        or as_of_date >= (select max(as_of_date) - interval 21 day from {{ this }})
    {%- endif %}
{%- endmacro %}
