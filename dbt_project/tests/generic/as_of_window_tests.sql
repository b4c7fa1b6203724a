{# Feature tests look only at the as-of dates the run built, so a daily run tests one day. #}

{% test unique_per_as_of_date(model, column_name) %}
select {{ column_name }}, as_of_date, count(*) as rows_per_key
from {{ model }}
where as_of_date between {{ run_dates() }}
group by all
having count(*) > 1
{% endtest %}

{% test not_null_in_run(model, column_name) %}
select *
from {{ model }}
where as_of_date between {{ run_dates() }}
    and {{ column_name }} is null
{% endtest %}

{# Point-in-time guard: "days since" a past fact must be at least `minimum` on its as-of date. #}
{% test at_least_in_run(model, column_name, minimum) %}
select *
from {{ model }}
where as_of_date between {{ run_dates() }}
    and {{ column_name }} < {{ minimum }}
{% endtest %}
