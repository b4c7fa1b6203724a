-- depends_on: {{ ref('int_person_activity_days') }}
-- Person features for the as-of dates of the run (a Dagster partition range): see person_features_sql.
{{ person_features_sql(daily_schedule(), ref('person_activity'), ref('account_features')) }}
