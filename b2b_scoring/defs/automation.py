"""Jobs and schedules."""

import dagster as dg

from b2b_scoring.lib.settings import Settings

DAILY_PIPELINE_JOB = "daily_pipeline_job"
ALL_ASSETS_JOB = "all_assets_job"
TRAINING_JOB = "training_job"
# Goal-partitioned assets cannot share a job with daily-partitioned ones.
TRAINING = dg.AssetSelection.groups("training")


@dg.definitions
def automation() -> dg.Definitions:
    # Everything downstream of the sources: raw snapshot tables ride along with each day's
    # events, then the dbt models rebuild on top of them.
    daily_pipeline_job = dg.define_asset_job(
        DAILY_PIPELINE_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("source") - TRAINING,
        description="Each day: load the raw tables (events of the partition's day), rebuild dbt models.",
    )
    # Everything, including the simulated world. Launched over a partition range (one run, as all
    # daily assets use single-run backfills) it rebuilds the warehouse from scratch; `b2b-scoring
    # demo` runs it over every day of the simulated world.
    all_assets_job = dg.define_asset_job(
        ALL_ASSETS_JOB,
        selection=dg.AssetSelection.all() - TRAINING,
        description="Materialize the simulated world, then every downstream table (models: training_job).",
    )
    training_job = dg.define_asset_job(
        TRAINING_JOB,
        selection=TRAINING,
        description="Per goal (partition): training set and gates, then backtest, train, register.",
    )
    goals = Settings.from_env().goals().names()

    @dg.schedule(
        job=training_job,
        cron_schedule="0 3 * * 1",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every Monday, retrain each goal (a new model is champion only if it wins).",
    )
    def weekly_retraining(context: dg.ScheduleEvaluationContext):
        date = context.scheduled_execution_time.date().isoformat()
        return [dg.RunRequest(run_key=f"{goal}-{date}", partition_key=goal) for goal in goals]

    return dg.Definitions(
        jobs=[daily_pipeline_job, all_assets_job, training_job],
        schedules=[
            dg.build_schedule_from_partitioned_job(
                daily_pipeline_job,
                hour_of_day=1,
                description="Each morning, run the daily pipeline for yesterday's UTC day.",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
            weekly_retraining,
        ],
    )
