-- What sales decided about each person, as of each day with dispositions: the day's last
-- disposition and running counts of dispositions and of rejections (rejected or disqualified).
with daily as (
    select
        person_key,
        cast(disposition_at as date) as disposition_date,
        arg_max(disposition, disposition_at) as last_disposition,
        cast(count(*) as integer) as dispositions,
        cast(count(*) filter (where disposition in ('rejected', 'disqualified')) as integer) as rejections
    from {{ ref('stg_sales_dispositions') }}
    group by person_key, cast(disposition_at as date)
)

select
    person_key,
    disposition_date,
    last_disposition,
    (sum(dispositions) over history)::integer as dispositions_lifetime,
    (sum(rejections) over history)::integer as rejections_lifetime
from daily
window history as (partition by person_key order by disposition_date rows unbounded preceding)
