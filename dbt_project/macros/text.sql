{# Host name of a website or URL, lower-cased, without scheme, "www.", port or path:
   "https://www.Acme.com/about" -> "acme.com". DuckDB regex syntax lives here only. #}
{% macro website_domain(expression) -%}
    nullif(regexp_replace(lower(trim({{ expression }})), '^([a-z]+://)?(www\.)?([^/:?#]*).*$', '\3'), '')
{%- endmacro %}

{# Domain part of an e-mail address, lower-cased: "Jane.Doe@Mail.Acme.com" -> "mail.acme.com". #}
{% macro email_domain(expression) -%}
    nullif(lower(trim(regexp_extract({{ expression }}, '@([^@]+)$', 1))), '')
{%- endmacro %}

{# Path of a URL without query string or fragment: "https://x.com/pricing?a=1" -> "/pricing". #}
{% macro url_path(expression) -%}
    coalesce(nullif(regexp_extract({{ expression }}, '^[a-zA-Z]+://[^/]+(/[^?#]*)', 1), ''), '/')
{%- endmacro %}

{# Trimmed text with runs of whitespace (including newlines) collapsed to one space; NULL if empty. #}
{% macro collapse_whitespace(expression) -%}
    nullif(regexp_replace(trim({{ expression }}), '\s+', ' ', 'g'), '')
{%- endmacro %}
