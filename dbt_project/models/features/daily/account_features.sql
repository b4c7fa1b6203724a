-- Account features for the as-of dates of the run (a Dagster partition range): see account_features_sql.
{{ account_features_sql(daily_schedule(), ref('person_activity')) }}
