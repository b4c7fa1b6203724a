"""Names of the project's jobs and of the sensor that launches scoring, shared by automation.py
and the assets that look at their runs (a module of its own so neither imports the other)."""

DAILY_PIPELINE_JOB = "daily_pipeline_job"
ALL_ASSETS_JOB = "all_assets_job"
TRAINING_JOB = "training_job"
SCORING_JOBS = {"person": "person_scoring_job", "account": "account_scoring_job"}
JOB_METRICS_JOB = "job_metrics_job"
# Launches the scoring jobs after each successful daily pipeline run.
SCORING_SENSOR = "score_after_daily_pipeline"
