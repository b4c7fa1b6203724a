-- Person features for the as-of dates of the run (a Dagster partition range): see person_features_sql.
{{ person_features_sql(as_of_dates(), ref('account_features')) }}
