{# Use the configured schema verbatim (staging, features, ...) so that Dagster asset keys
   [schema, model] name the real tables; dbt's default would prefix the target schema. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
