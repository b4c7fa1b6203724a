select
    person_key,
    nullif(trim(account_key), '') as account_key,
    created_at,
    nullif(lower(trim(email)), '') as email,
    {{ email_domain('email') }} as email_domain,
    nullif(trim(first_name), '') as first_name,
    nullif(trim(last_name), '') as last_name,
    {{ collapse_whitespace('company_name') }} as company_name,
    {{ website_domain('company_website') }} as company_website_domain,
    {{ collapse_whitespace('job_title') }} as job_title,
    nullif(trim(country), '') as country
from {{ source('raw', 'persons') }}
