{# A feature run builds the as-of dates of a schedule: {first, last, step_days}, dates from
   first to last (inclusive) every step_days days. Features for as-of date d use only data strictly
   before d (00:00 UTC). The bounds are rendered as literals so DuckDB prunes the scans by date. #}

{% macro date_literal(day) -%}date '{{ day.isoformat() }}'{%- endmacro %}

{% macro as_of_dates_sql(schedule) -%}
    select cast(unnest(generate_series(
        {{ date_literal(schedule.first) }}, {{ date_literal(schedule.last) }}, interval {{ schedule.step_days }} day
    )) as date) as as_of_date
{%- endmacro %}

{# Daily tables: every date of the half-open range [as_of_start, as_of_end) given by Dagster (one
   partition range); without vars, today (UTC) only. #}
{% macro daily_schedule() -%}
    {%- set today = modules.datetime.datetime.utcnow().date() -%}
    {%- set start = var('as_of_start') -%}
    {%- set end = var('as_of_end') -%}
    {%- set first = modules.datetime.date.fromisoformat(start | string) if start is not none else today -%}
    {%- set last = modules.datetime.date.fromisoformat(end | string) - modules.datetime.timedelta(days=1)
        if end is not none else today -%}
    {{ return({'first': first, 'last': last, 'step_days': 1}) }}
{%- endmacro %}

{# "first and last" date of the daily schedule, for `between`. #}
{% macro run_dates() -%}
    {%- set schedule = daily_schedule() -%}
    {{ date_literal(schedule.first) }} and {{ date_literal(schedule.last) }}
{%- endmacro %}

{# Weekly history: every Monday after the first experience event up to the day after the last
   one. An incremental run starts at the latest Monday already built (rebuilt: late events of its
   week) and adds the newer ones, at most `history_weeks_per_run` of them when that var is set
   (Dagster then runs the history models again until they are complete); a full refresh
   rebuilds all. #}
{% macro weekly_history_schedule() -%}
    {%- set today = modules.datetime.datetime.utcnow().date() -%}
    {%- if not execute -%}
        {{ return({'first': today, 'last': today, 'step_days': 7}) }}
    {%- endif -%}
    {%- set built_from -%}
        {%- if is_incremental() -%}(select max(as_of_date) from {{ this }}){%- else -%}null{%- endif -%}
    {%- endset -%}
    {%- set bounds = run_query(
        "select coalesce(" ~ built_from ~ ", cast(date_trunc('week', min(event_date)) + interval 7 day as date)), "
        ~ "cast(max(event_date) + interval 1 day as date) from " ~ ref('stg_experience_events')
    ).rows[0] -%}
    {%- if bounds[0] is none -%}
        {# No events yet: an empty schedule (last before first). #}
        {{ return({'first': today, 'last': today - modules.datetime.timedelta(days=1), 'step_days': 7}) }}
    {%- endif -%}
    {%- set weeks = var('history_weeks_per_run', none) -%}
    {%- set last = bounds[1] if weeks is none
        else [bounds[1], bounds[0] + modules.datetime.timedelta(days=7 * (weeks | int))] | min -%}
    {{ return({'first': bounds[0], 'last': last, 'step_days': 7}) }}
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
