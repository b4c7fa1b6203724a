-- Weekly account feature snapshots over the whole history (training and backtests): see
-- account_features_sql and history_as_of_dates.
{{ account_features_sql(history_as_of_dates()) }}
