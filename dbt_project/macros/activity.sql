{# Daily activity measures of a person (columns of int_person_activity_days), each counted over
   the 7, 30 and 90 days before the as-of date in person_activity and account_features. #}
{% macro activity_measures() -%}
    {{ return([
        'engagement_events', 'page_views', 'emails_opened', 'emails_clicked', 'forms_filled',
        'webinars_attended', 'content_downloads', 'pricing_visits', 'demo_requests',
        'contact_sales_requests', 'product_docs_visits', 'research_events',
    ]) }}
{%- endmacro %}

{% macro activity_windows() -%}{{ return([7, 30, 90]) }}{%- endmacro %}

{# Every windowed activity column name: engagement_events_7d, ..., product_docs_visits_90d. #}
{% macro windowed_activity_columns() -%}
    {%- set columns = [] -%}
    {%- for window in activity_windows() -%}
        {%- for measure in activity_measures() -%}
            {%- do columns.append(measure ~ '_' ~ window ~ 'd') -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{# Job seniorities that usually sign or approve a purchase. #}
{% macro decision_maker_seniorities() -%}('C-Level', 'VP', 'Director'){%- endmacro %}

{# Engagement is every event a person did themselves: not the e-mails sent to them, not lead operations. #}
{% macro is_engagement(event_type) -%}
    {{ event_type }} not in ('directMarketing.emailSent', 'leadOperation.newLead', 'leadOperation.convertLead')
{%- endmacro %}

{% macro is_lead_conversion(event_type) -%}{{ event_type }} = 'leadOperation.convertLead'{%- endmacro %}
