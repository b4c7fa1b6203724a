{# Firmographic bands as CRM and data vendors report them. #}
{% macro employee_band(expression) -%}
    case
        when {{ expression }} is null then null
        when {{ expression }} <= 10 then '1-10'
        when {{ expression }} <= 50 then '11-50'
        when {{ expression }} <= 200 then '51-200'
        when {{ expression }} <= 500 then '201-500'
        when {{ expression }} <= 1000 then '501-1000'
        when {{ expression }} <= 5000 then '1001-5000'
        when {{ expression }} <= 10000 then '5001-10000'
        else '10000+'
    end
{%- endmacro %}

{% macro revenue_band(expression) -%}
    case
        when {{ expression }} is null then null
        when {{ expression }} < 1e6 then '<1M'
        when {{ expression }} < 10e6 then '1M-10M'
        when {{ expression }} < 50e6 then '10M-50M'
        when {{ expression }} < 100e6 then '50M-100M'
        when {{ expression }} < 1e9 then '100M-1B'
        else '1B+'
    end
{%- endmacro %}
