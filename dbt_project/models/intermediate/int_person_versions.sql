-- Person profiles as they were over time: one row per observed version with its validity
-- [valid_from, valid_to). The first version of a person is taken as valid since the person was
-- created (nothing older was observed); later versions from when a snapshot first saw them.
select
    snapshot.person_key,
    snapshot.account_key,
    snapshot.created_at,
    snapshot.country,
    snapshot.email_domain,
    personal.kind is not null as has_personal_email,
    titles.job_function,
    titles.job_seniority,
    case
        when row_number() over (partition by snapshot.person_key order by snapshot.dbt_valid_from) = 1
            then '-infinity'::timestamp
        else snapshot.dbt_valid_from
    end as valid_from,
    snapshot.dbt_valid_to as valid_to
from {{ ref('persons_snapshot') }} as snapshot
left join {{ ref('int_job_titles') }} as titles on snapshot.job_title = titles.job_title
left join {{ ref('personal_email_domains') }} as personal on snapshot.email_domain = personal.domain
