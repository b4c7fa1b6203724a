-- The CRM's account link wins; a known person without one takes the account that
-- lead-to-account matching linked them to (matching.account_person_relations), when it exists.
{%- set with_matches = not execute or adapter.get_relation(
    database=target.database, schema='matching', identifier='account_person_relations') is not none %}
{%- set crm_account_key = "nullif(trim(persons.account_key), '')" %}
select
    persons.person_key,
    coalesce({{ crm_account_key }}{% if with_matches %}, matches.account_key{% endif %}) as account_key,
    case
        when {{ crm_account_key }} is not null then 'crm'
        {%- if with_matches %}
        when matches.account_key is not null then matches.relationship_source
        {%- endif %}
    end as account_link_source,
    persons.created_at,
    nullif(lower(trim(persons.email)), '') as email,
    {{ email_domain('persons.email') }} as email_domain,
    nullif(trim(persons.first_name), '') as first_name,
    nullif(trim(persons.last_name), '') as last_name,
    {{ collapse_whitespace('persons.company_name') }} as company_name,
    {{ website_domain('persons.company_website') }} as company_website_domain,
    {{ collapse_whitespace('persons.job_title') }} as job_title,
    nullif(trim(persons.country), '') as country
from {{ source('raw', 'persons') }} as persons
{%- if with_matches %}
left join {{ source('matching', 'account_person_relations') }} as matches
    on matches.person_key = persons.person_key
{%- endif %}
