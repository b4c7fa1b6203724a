-- Account profiles as they were over time, as int_person_versions.
select
    account_key,
    created_at,
    industry,
    number_of_employees,
    annual_revenue,
    country,
    website_domain,
    case
        when row_number() over (partition by account_key order by dbt_valid_from) = 1
            then '-infinity'::timestamp
        else dbt_valid_from
    end as valid_from,
    dbt_valid_to as valid_to
from {{ ref('accounts_snapshot') }}
