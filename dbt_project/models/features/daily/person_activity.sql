-- Windowed person activity for the as-of dates of the run (a Dagster partition range): see person_activity_sql.
{{ person_activity_sql(daily_schedule()) }}
