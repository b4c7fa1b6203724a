select
    person_key,
    nullif(trim(account_key), '') as account_key,
    created_at,
    nullif(lower(trim(email)), '') as email,
    {{ email_domain('email') }} as email_domain,
    nullif(trim(first_name), '') as first_name,
    nullif(trim(last_name), '') as last_name,
    nullif(regexp_replace(trim(company_name), '\s+', ' ', 'g'), '') as company_name,
    {{ website_domain('company_website') }} as company_website_domain,
    nullif(regexp_replace(trim(job_title), '\s+', ' ', 'g'), '') as job_title,
    nullif(trim(country), '') as country
from {{ source('raw', 'persons') }}
