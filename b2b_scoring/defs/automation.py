"""Jobs and schedules."""

import dagster as dg

from b2b_scoring.defs.insights.assets import SALES_VIEW_KEY
from b2b_scoring.defs.job_names import (
    ALL_ASSETS_JOB,
    DAILY_PIPELINE_JOB,
    JOB_METRICS_JOB,
    SCORING_JOBS,
    SCORING_SENSOR,
    TRAINING_JOB,
)
from b2b_scoring.defs.monitoring.assets import monitoring_keys, realized_key
from b2b_scoring.defs.monitoring.job_metrics import JOB_METRICS_KEY
from b2b_scoring.defs.partitions import PARTITION_RANGE_END_TAG
from b2b_scoring.defs.scoring.assets import DATE, GOAL, drift_key, export_key, score_key, scoring_partitions
from b2b_scoring.lib.goals import ENTITIES
from b2b_scoring.lib.monitoring.drift import ERROR_PSI
from b2b_scoring.lib.monitoring.performance import REALIZED_AUC_DROP
from b2b_scoring.lib.settings import Settings

DAILY_JOB_METRICS_SCHEDULE = "daily_job_metrics"
# Goal-partitioned (training) and day x goal partitioned (scoring) assets cannot share a job
# with daily-partitioned ones.
TRAINING = dg.AssetSelection.groups("training")
SCORING = dg.AssetSelection.groups("scoring", "monitoring")
# Job metrics look at the runs of the other jobs, on a schedule of their own.
JOB_METRICS = dg.AssetSelection.assets(JOB_METRICS_KEY)
# Intraday rescoring (unpartitioned, launched by its sensor) is never part of a daily run.
OWN_JOBS = TRAINING | SCORING | dg.AssetSelection.groups("intraday")


@dg.definitions
def automation() -> dg.Definitions:
    # Everything downstream of the sources: raw snapshot tables ride along with each day's
    # events, then the dbt models rebuild on top of them.
    daily_pipeline_job = dg.define_asset_job(
        DAILY_PIPELINE_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("source") - OWN_JOBS,
        description="Each day: load the raw tables (events of the partition's day), rebuild dbt models.",
    )
    # Everything, including the simulated world. Launched over a partition range (one run, as all
    # daily assets use single-run backfills) it rebuilds the warehouse from scratch; `b2b-scoring
    # demo` runs it over every day of the simulated world.
    all_assets_job = dg.define_asset_job(
        ALL_ASSETS_JOB,
        selection=dg.AssetSelection.all() - OWN_JOBS,
        description="Materialize the simulated world, then every downstream table "
        "(models: training_job; scores: the scoring jobs).",
    )
    training_job = dg.define_asset_job(
        TRAINING_JOB,
        selection=TRAINING,
        description="Per goal (partition): training set and gates, then backtest, train, register.",
    )
    job_metrics_job = dg.define_asset_job(
        JOB_METRICS_JOB,
        selection=JOB_METRICS,
        description="Job metrics: scored and matched counts, next schedule ticks, the runs of every job.",
    )
    settings = Settings.from_env()
    goals = [goal.name for goal in settings.goals().dated_goals()]
    scoring_jobs = [
        dg.define_asset_job(
            SCORING_JOBS[entity],
            selection=dg.AssetSelection.assets(
                score_key(entity),
                *monitoring_keys(entity),
                export_key(entity),
                *([SALES_VIEW_KEY] if entity == "account" else []),
            ),
            partitions_def=scoring_partitions(settings, entity),
            description=f"Per day and {entity} goal: score with the champion model, monitor drift, realized "
            "performance and alerts, then export the changes (held back while the scores drift)"
            + (" and the sales view." if entity == "account" else "."),
        )
        for entity in ENTITIES
        if scoring_partitions(settings, entity) is not None
    ]

    @dg.run_status_sensor(
        name=SCORING_SENSOR,
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[daily_pipeline_job],
        request_jobs=scoring_jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="When the daily pipeline has built a day's features, score that day for every goal. "
        "A run over a range of days (a backfill) scores its last day; backfill scores from the scoring jobs.",
    )
    def score_after_daily_pipeline(context: dg.RunStatusSensorContext):
        tags = context.dagster_run.tags
        day = tags.get("dagster/partition") or tags.get(PARTITION_RANGE_END_TAG)
        if day is None:
            return dg.SkipReason("the run has no daily partition")
        return [
            dg.RunRequest(
                run_key=f"{context.dagster_run.run_id}-{goal.name}",
                job_name=SCORING_JOBS[goal.entity],
                partition_key=dg.MultiPartitionKey({DATE: day, GOAL: goal.name}),
            )
            for goal in settings.goals().dated_goals()
        ]

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

    @dg.multi_asset_sensor(
        monitored_assets=[
            key
            for entity in ENTITIES
            if scoring_partitions(settings, entity)
            for key in (drift_key(entity), realized_key(entity))
        ],
        job=training_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Retrain a goal when its scores degrade: a drift materialization with score PSI >= "
        f"{ERROR_PSI}, or a realized-performance one whose recent realized ROC-AUC is {REALIZED_AUC_DROP} or "
        "more below the backtest, requests the goal's training run (once per goal and model version).",
    )
    def retrain_when_scores_degrade(context: dg.MultiAssetSensorEvaluationContext):
        requests = {}
        for records in context.latest_materialization_records_by_key().values():
            if records is None:
                continue
            materialization = records.asset_materialization
            metadata = materialization.metadata if materialization else {}
            if metadata.get("retrain_recommended") is None or not metadata["retrain_recommended"].value:
                continue
            goal, version = metadata["goal"].value, metadata["model_version"].value
            # Drift and decay of the same model version ask for one retraining.
            run_key = f"retrain-{goal}-v{version}"
            requests[run_key] = dg.RunRequest(run_key=run_key, partition_key=str(goal), job_name=TRAINING_JOB)
        context.advance_all_cursors()
        return list(requests.values()) or dg.SkipReason(
            "no goal's scores drift or decay beyond their thresholds"
        )

    return dg.Definitions(
        jobs=[daily_pipeline_job, all_assets_job, training_job, job_metrics_job, *scoring_jobs],
        sensors=[score_after_daily_pipeline, retrain_when_scores_degrade],
        schedules=[
            dg.build_schedule_from_partitioned_job(
                daily_pipeline_job,
                hour_of_day=1,
                description="Each morning, run the daily pipeline for yesterday's UTC day.",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
            weekly_retraining,
            dg.ScheduleDefinition(
                name=DAILY_JOB_METRICS_SCHEDULE,
                job=job_metrics_job,
                cron_schedule="0 7 * * *",
                execution_timezone="UTC",
                default_status=dg.DefaultScheduleStatus.RUNNING,
                description="Each morning, after the 01:00 daily pipeline and the scoring runs it triggers, "
                "record the job metrics.",
            ),
        ],
    )
