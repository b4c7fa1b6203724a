select
    account_key,
    created_at,
    {{ collapse_whitespace('account_name') }} as account_name,
    {{ website_domain('website') }} as website_domain,
    nullif(trim(industry), '') as industry,
    number_of_employees,
    annual_revenue,
    nullif(trim(country), '') as country
from {{ source('raw', 'accounts') }}
