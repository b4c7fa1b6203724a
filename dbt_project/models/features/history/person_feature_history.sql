-- Weekly person feature snapshots over the whole history (training and backtests): see
-- person_features_sql and history_as_of_dates.
{{ person_features_sql(history_as_of_dates(), ref('account_feature_history')) }}
