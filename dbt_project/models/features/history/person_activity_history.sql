-- depends_on: {{ ref('stg_experience_events') }}
-- Windowed person activity on the Mondays of the weekly history: see person_activity_sql and
-- weekly_history_schedule.
{{ person_activity_sql(weekly_history_schedule()) }}
