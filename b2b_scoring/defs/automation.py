"""Jobs and schedules."""

import dagster as dg

DAILY_PIPELINE_JOB = "daily_pipeline_job"
ALL_ASSETS_JOB = "all_assets_job"


@dg.definitions
def automation() -> dg.Definitions:
    # Everything downstream of the sources: raw snapshot tables ride along with each day's
    # events, then the dbt models rebuild on top of them.
    daily_pipeline_job = dg.define_asset_job(
        DAILY_PIPELINE_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("source"),
        description="Each day: load the raw tables (events of the partition's day), rebuild dbt models.",
    )
    # Everything, including the simulated world. Launched over a partition range (one run, as all
    # daily assets use single-run backfills) it rebuilds the warehouse from scratch; `b2b-scoring
    # demo` runs it over every day of the simulated world.
    all_assets_job = dg.define_asset_job(
        ALL_ASSETS_JOB,
        selection=dg.AssetSelection.all(),
        description="Materialize every asset: the simulated world, then all downstream tables.",
    )
    return dg.Definitions(
        jobs=[daily_pipeline_job, all_assets_job],
        schedules=[
            dg.build_schedule_from_partitioned_job(
                daily_pipeline_job,
                hour_of_day=1,
                description="Each morning, run the daily pipeline for yesterday's UTC day.",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )
