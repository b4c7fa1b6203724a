"""monitoring/job_metrics: how the jobs are doing, in one place in the UI and in the warehouse.

Persons and accounts scored per goal (latest score date, per tier), matched persons, the next tick
of every schedule and the recent runs of every job of the code location, written to
monitoring.job_metrics, monitoring.schedule_ticks and monitoring.job_runs
(b2b_scoring.lib.monitoring.job_metrics). Run by job_metrics_job, on its own daily schedule.

The jobs and schedules are those of the run's repository (context.repository_def), which runs
loaded from the code location have: launched in the UI, by a schedule or sensor, or with
`b2b_scoring.demo.run_job_metrics`. A job executed in process (`execute_in_process`,
`dg.materialize`) has no repository, so this asset fails there.
"""

import datetime
from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._utils.schedules import get_next_cron_tick
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.job_names import DAILY_PIPELINE_JOB, SCORING_SENSOR, TRAINING_JOB
from b2b_scoring.defs.matching.assets import MATCHES_KEY
from b2b_scoring.defs.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from b2b_scoring.defs.scoring.assets import score_key, scoring_partitions
from b2b_scoring.lib.goals import ENTITIES
from b2b_scoring.lib.monitoring.job_metrics import (
    METRICS_TABLE,
    RUNS_TABLE,
    TICKS_TABLE,
    GoalScores,
    JobMetric,
    JobRun,
    MatchedPersons,
    ScheduleTick,
    latest_scores,
    matched_persons,
    replace_schedule_ticks,
    upsert_job_runs,
    warehouse_metrics,
    write_job_metrics,
)
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import markdown_table

JOB_METRICS_KEY = dg.AssetKey(["monitoring", "job_metrics"])
RUNS_PER_JOB = 20
FAILED_RUNS_WINDOW = datetime.timedelta(days=7)
FAILED_RUNS_METRIC = "failed_runs_last_7_days"


def next_cron_tick(cron: str, timezone: str, after: datetime.datetime) -> datetime.datetime:
    """The first time, at or after `after`, that the cron string fires in the timezone."""
    # Dagster's own cron arithmetic, which its scheduler uses (its cron dialect, DST). It is
    # private API, acceptable while dagster is pinned below 1.14.
    return get_next_cron_tick(cron, after, timezone)


def schedule_ticks(
    schedules: Sequence[dg.ScheduleDefinition], stored_statuses: dict[str, str], now: datetime.datetime
) -> list[ScheduleTick]:
    """Every schedule with the status it runs under (the one set in the UI, else its default) and,
    when running, its next tick after now."""
    ticks = []
    for schedule in schedules:
        crons = (
            [schedule.cron_schedule] if isinstance(schedule.cron_schedule, str) else schedule.cron_schedule
        )
        timezone = schedule.execution_timezone or "UTC"
        status = stored_statuses.get(schedule.name, schedule.default_status.value)
        next_tick = (
            min(next_cron_tick(cron, timezone, now) for cron in crons)
            if status == dg.DefaultScheduleStatus.RUNNING.value
            else None
        )
        ticks.append(
            ScheduleTick(schedule.name, schedule.job_name, "; ".join(crons), timezone, status, next_tick)
        )
    return ticks


def stored_schedule_statuses(instance: dg.DagsterInstance) -> dict[str, str]:
    """RUNNING or STOPPED per schedule that someone started or stopped in the UI (or the CLI).

    One code location per instance, so a schedule's name identifies its state.
    """
    toggled = {status.value for status in dg.DefaultScheduleStatus}
    return {
        state.instigator_name: state.status.value
        for state in instance.all_instigator_state()
        if state.instigator_type.value == "SCHEDULE" and state.status.value in toggled
    }


def recent_runs(instance: dg.DagsterInstance, job_names: Sequence[str]) -> list[JobRun]:
    """The last RUNS_PER_JOB runs of each job, newest first."""
    return [
        JobRun(
            job_name=record.dagster_run.job_name,
            run_id=record.dagster_run.run_id,
            status=record.dagster_run.status.value,
            partition=_partition(record.dagster_run.tags),
            started_at=_utc(record.start_time),
            ended_at=_utc(record.end_time),
        )
        for name in job_names
        for record in instance.get_run_records(dg.RunsFilter(job_name=name), limit=RUNS_PER_JOB)
    ]


def failed_runs(instance: dg.DagsterInstance, job_names: Sequence[str], since: datetime.datetime) -> int:
    return sum(
        instance.get_runs_count(
            dg.RunsFilter(job_name=name, statuses=[dg.DagsterRunStatus.FAILURE], created_after=since)
        )
        for name in job_names
    )


def _partition(tags: Mapping[str, str]) -> str | None:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if PARTITION_RANGE_START_TAG in tags:
        return f"{tags[PARTITION_RANGE_START_TAG]}..{tags.get(PARTITION_RANGE_END_TAG, '')}"
    return None


def _utc(timestamp: float | None) -> datetime.datetime | None:
    return None if timestamp is None else datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


def _at(moment: datetime.datetime | None) -> str:
    return "" if moment is None else moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _next_tick_of(ticks: Sequence[ScheduleTick], job_name: str) -> str:
    upcoming = [tick.next_tick for tick in ticks if tick.job_name == job_name and tick.next_tick]
    return _at(min(upcoming)) if upcoming else "not scheduled"


def _metadata(
    scores: Sequence[GoalScores],
    matched: MatchedPersons,
    ticks: Sequence[ScheduleTick],
    runs: Sequence[JobRun],
    failed: int,
) -> dict[str, object]:
    latest_run_per_job: dict[str, JobRun] = {}
    for run in runs:  # newest first
        latest_run_per_job.setdefault(run.job_name, run)
    tiers = sorted({tier for goal_scores in scores for tier in goal_scores.tiers})
    return {
        "next_scoring": dg.MetadataValue.text(
            f"{_next_tick_of(ticks, DAILY_PIPELINE_JOB)}: scoring runs are launched by the sensor "
            f"{SCORING_SENSOR} after each run of {DAILY_PIPELINE_JOB}, so the next scoring follows "
            "its next tick"
        ),
        "next_training": _next_tick_of(ticks, TRAINING_JOB),
        **{f"{s.entity}s_scored_{s.goal}": s.scored for s in scores},
        "matched_persons": matched.by_matching,
        "crm_linked_persons": matched.by_crm,
        FAILED_RUNS_METRIC: failed,
        "scored_per_goal": dg.MetadataValue.md(
            markdown_table(
                ["entity", "goal", "score date", "scored", *(f"tier {tier}" for tier in tiers)],
                [
                    [s.entity, s.goal, s.score_date, s.scored, *(s.tiers.get(tier, 0) for tier in tiers)]
                    for s in scores
                ],
            )
        ),
        "matched_persons_by_link": dg.MetadataValue.md(
            markdown_table(
                ["account link", "persons"],
                [["lead-to-account matching", matched.by_matching], ["CRM", matched.by_crm]],
            )
        ),
        "next_ticks": dg.MetadataValue.md(
            markdown_table(
                ["schedule", "job", "cron", "timezone", "status", "next tick"],
                [
                    [t.schedule_name, t.job_name, t.cron, t.timezone, t.status, _at(t.next_tick)]
                    for t in ticks
                ],
            )
        ),
        "last_runs": dg.MetadataValue.md(
            markdown_table(
                ["job", "status", "partition", "started", "duration (s)", "run id"],
                [
                    [
                        run.job_name,
                        run.status,
                        run.partition,
                        _at(run.started_at),
                        "" if run.duration_seconds is None else f"{run.duration_seconds:.1f}",
                        run.run_id,
                    ]
                    for run in sorted(latest_run_per_job.values(), key=lambda run: run.job_name)
                ],
            )
        ),
    }


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    scored = [score_key(entity) for entity in ENTITIES if scoring_partitions(settings, entity) is not None]

    @dg.asset(
        key=JOB_METRICS_KEY,
        deps=[*scored, MATCHES_KEY],
        group_name="monitoring",
        pool="duckdb",
        kinds={"duckdb"},
        description="Persons and accounts scored per goal and tier on the latest score date, matched "
        f"persons, failed runs, the next tick of every schedule ({METRICS_TABLE}, {TICKS_TABLE}) and the "
        f"last {RUNS_PER_JOB} runs of every job ({RUNS_TABLE}).",
    )
    def job_metrics(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        now = datetime.datetime.now(datetime.UTC)
        # Hidden jobs (Dagster's own __ASSET_JOB) are not the project's.
        job_names = [name for name in context.repository_def.job_names if not name.startswith("__")]
        runs = recent_runs(context.instance, job_names)
        failed = failed_runs(context.instance, job_names, now - FAILED_RUNS_WINDOW)
        ticks = schedule_ticks(
            context.repository_def.schedule_defs, stored_schedule_statuses(context.instance), now
        )
        with duckdb.get_connection() as con:
            scores = latest_scores(con)
            matched = matched_persons(con)
            metrics = [*warehouse_metrics(scores, matched), JobMetric(FAILED_RUNS_METRIC, failed)]
            write_job_metrics(con, now, metrics)
            upsert_job_runs(con, runs)
            replace_schedule_ticks(con, ticks)
        return dg.MaterializeResult(metadata=_metadata(scores, matched, ticks, runs, failed))

    return dg.Definitions(assets=[job_metrics])
