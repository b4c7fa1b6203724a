-- depends_on: {{ ref('stg_experience_events') }}
-- depends_on: {{ ref('int_person_activity_days') }}
-- Weekly person feature snapshots over the whole history (training and backtests): see
-- person_features_sql and weekly_history_schedule.
{{ person_features_sql(weekly_history_schedule(), ref('person_activity_history'), ref('account_feature_history')) }}
