-- depends_on: {{ ref('stg_experience_events') }}
-- Weekly account feature snapshots over the whole history (training and backtests): see
-- account_features_sql and weekly_history_schedule.
{{ account_features_sql(weekly_history_schedule(), ref('person_activity_history')) }}
