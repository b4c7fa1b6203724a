"""`b2b-scoring demo`: materialize every asset on the simulated world, recorded in DAGSTER_HOME."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import duckdb
from dagster._core.definitions.reconstruct import ReconstructableRepository

from b2b_scoring.defs.automation import ALL_ASSETS_JOB, OWN_JOBS, TRAINING_JOB
from b2b_scoring.defs.job_names import JOB_METRICS_JOB
from b2b_scoring.defs.partitions import partition_range_tags
from b2b_scoring.defs.training.assets import TRAINING_SETS_KEY
from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.ingestion import QUARANTINE_SCHEMA, RAW_SCHEMA
from b2b_scoring.lib.ml.registry import registry_exists
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import relation_row_counts
from b2b_scoring.lib.world_landing import TRUTH_SCHEMA
from b2b_scoring.scoring_runs import INFO_LOGS, partition_days, run_scoring

STAGING_SCHEMA = "staging"
FEATURES_SCHEMA = "features"
ML_SCHEMA = "ml"
SCORES_SCHEMA = "scores"
MATCHING_SCHEMA = "matching"
INSIGHTS_SCHEMA = "insights"
MONITORING_SCHEMA = "monitoring"
# The code location, as workspace.yaml loads it.
DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE = "b2b_scoring.definitions", "defs"


@dataclass(frozen=True)
class DemoOutcome:
    passed_checks: int
    failed_checks: list[str]
    warned_checks: list[str]
    untrained_goals: list[str]
    row_counts: dict[str, dict[str, int]]
    models: list[str]
    scores: list[str]
    matches: list[str]


# Daily tables downstream of the raw layer (features, ...) are built for the most recent days
# only: their history for training comes from the weekly feature history instead.
RECENT_DAYS = 28
# Days the demo scores at the end (the daily schedule then scores one more each morning).
SCORED_DAYS = 3


def demo_partition_range(settings: Settings, partitions_def: dg.PartitionsDefinition) -> tuple[str, str]:
    """Every daily partition up to the world's last day.

    Starting at the first partition rather than the world's first day also empties days that a
    previous demo (run on another day, so with a shifted world) left behind.
    """
    keys = partitions_def.get_partition_keys()
    last_world_day = settings.sim_end_date.isoformat()
    covered = [key for key in keys if key <= last_world_day]
    if not covered:
        raise RuntimeError(
            f"No daily partition from {settings.start_date} up to the world's last day {last_world_day}."
        )
    return covered[0], covered[-1]


def recent_first_partition(first: str, last: str) -> str:
    """The first of the last RECENT_DAYS daily partitions of first..last."""
    recent = datetime.date.fromisoformat(last) - datetime.timedelta(days=RECENT_DAYS - 1)
    return max(first, recent.isoformat())


def run_job_metrics(instance: dg.DagsterInstance) -> dg.JobExecutionResult:
    """Run job_metrics_job in this process as a deployed run would: loaded from the code location,
    whose jobs and schedules the job metrics read (a job executed in process has no repository)."""
    repository = ReconstructableRepository.for_module(DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE)
    return dg.execute_job(
        repository.get_reconstructable_job(JOB_METRICS_JOB),
        instance=instance,
        run_config=INFO_LOGS,
        raise_on_error=True,
    )


def run_demo(settings: Settings, log: Callable[[str], None]) -> DemoOutcome:
    """Run the all-assets job in process on the persistent instance: one run over all partitions
    for everything but the daily tables downstream of raw and the dbt models, then one over their
    recent days; then the training job once per goal, the scoring of the last days, and the job
    metrics."""
    from b2b_scoring.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def(ALL_ASSETS_JOB)
    assert job.partitions_def is not None, f"{ALL_ASSETS_JOB} selects no daily assets"
    graph = definitions.resolve_asset_graph()
    every_key = set(graph.get_all_asset_keys()) - OWN_JOBS.resolve(graph)
    # Daily assets that unpartitioned ones read (lead-to-account matches feed the dbt staging and
    # weekly history) run with them in the first run; the rest over the recent days only.
    read_by_unpartitioned = set().union(
        *(graph.get_ancestor_asset_keys(key) for key in every_key if graph.get(key).partitions_def is None)
    )
    downstream_daily = {
        key
        for key in every_key - read_by_unpartitioned
        if graph.get(key).partitions_def is not None and key.path[0] != RAW_SCHEMA
    }
    first, last = demo_partition_range(settings, job.partitions_def)
    recent_first = recent_first_partition(first, last)
    instance = dg.DagsterInstance.get()
    log(
        f"materializing {len(every_key)} assets (then training) on a world of {settings.persons:,} persons; "
        f"daily assets in one run over {first} .. {last}, daily features over {recent_first} .. {last}"
    )
    results: list[dg.ExecuteInProcessResult | dg.JobExecutionResult] = [
        job.execute_in_process(
            instance=instance,
            asset_selection=list(keys),
            tags=partition_range_tags(start, last),
            run_config=INFO_LOGS,
        )
        for keys, start in ((every_key - downstream_daily, first), (downstream_daily, recent_first))
        if keys
    ]
    training_job = definitions.resolve_job_def(TRAINING_JOB)
    assert training_job.partitions_def is not None
    for goal in training_job.partitions_def.get_partition_keys():
        log(f"training goal {goal}: gates, walk-forward backtest, model registry")
        results.append(
            training_job.execute_in_process(
                instance=instance,
                tags={"dagster/partition": goal},
                raise_on_error=False,
                run_config=INFO_LOGS,
            )
        )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        trained = (
            {
                row[0]
                for row in con.execute(
                    "select distinct goal from ml.model_registry where champion"
                ).fetchall()
            }
            if registry_exists(con)
            else set()
        )
    goals = settings.goals().goals
    last_day = datetime.date.fromisoformat(last)
    days = partition_days(last_day - datetime.timedelta(days=SCORED_DAYS - 1), last_day)
    results += run_scoring(definitions, instance, [g for g in goals if g.name in trained], days, log)
    log("job metrics: scored and matched counts, next schedule ticks, job history")
    results.append(run_job_metrics(instance))
    evaluations = [
        (result.dagster_run.tags.get("dagster/partition"), e)
        for result in results
        for e in result.get_asset_check_evaluations()
    ]
    log(f"runs {', '.join(r.run_id for r in results)} finished; {len(evaluations)} asset checks evaluated")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        row_counts = {
            schema: relation_row_counts(con, schema, first=list(CONTRACTS))
            for schema in (
                RAW_SCHEMA,
                QUARANTINE_SCHEMA,
                MATCHING_SCHEMA,
                STAGING_SCHEMA,
                FEATURES_SCHEMA,
                ML_SCHEMA,
                SCORES_SCHEMA,
                INSIGHTS_SCHEMA,
                MONITORING_SCHEMA,
                TRUTH_SCHEMA,
            )
        }
        models = (
            [
                f"{goal} v{version} ({algorithm}, {'champion' if champion else 'challenger'}): backtest "
                f"ROC-AUC {auc:.3f}, rules baseline {baseline:.3f}, {rows:,} training rows"
                for goal, version, algorithm, champion, auc, baseline, rows in con.execute(
                    "select goal, version, algorithm, champion, "
                    "(metrics->'backtest'->algorithm->'metrics'->>'roc_auc')::double, "
                    "coalesce((metrics->'backtest'->'rules_baseline'->'metrics'->>'roc_auc')::double, "
                    "'nan'), "
                    "training_rows from ml.model_registry order by goal, version"
                ).fetchall()
            ]
            if row_counts[ML_SCHEMA]
            else []
        )

        matches = (
            [
                f"{status}: {persons:,} known persons without a CRM account"
                + (f", {right:,} of them to their true account" if status == "matched" else "")
                for status, persons, right in con.execute(
                    "select d.status, count(*), count(*) filter (d.account_key = t.true_account_key) "
                    "from matching.match_decisions as d left join truth.persons as t using (person_key) "
                    "group by 1 order by 2 desc"
                ).fetchall()
            ]
            if "match_decisions" in row_counts[MATCHING_SCHEMA] and "persons" in row_counts[TRUTH_SCHEMA]
            else []
        )

        scores = [
            f"{table} {goal} {day}: {rows:,} scored, tier A {a:,}, B {b:,}, C {c:,}; "
            f"{changed:,} changed or new"
            for table in ("person_scores", "account_scores")
            if table in row_counts[SCORES_SCHEMA]
            for goal, day, rows, a, b, c, changed in con.execute(
                f"select goal, score_date, count(*), count(*) filter (tier = 'A'), "
                f"count(*) filter (tier = 'B'), count(*) filter (tier = 'C'), "
                "count(*) filter (previous_score is null or score <> previous_score "
                "or tier <> previous_tier) "
                f"from scores.{table} group by 1, 2 order by 1, 2"
            ).fetchall()
        ]

    def name(e: dg.AssetCheckEvaluation) -> str:
        return f"{e.asset_key.to_user_string()}:{e.check_name}"

    failed = [(goal, e) for goal, e in evaluations if not e.passed]
    errors = [(goal, e) for goal, e in failed if e.severity == dg.AssetCheckSeverity.ERROR]
    # A goal that fails a training gate is a reported outcome (too little data), not a failure.
    return DemoOutcome(
        passed_checks=sum(e.passed for _, e in evaluations),
        failed_checks=[name(e) for _, e in errors if e.asset_key != TRAINING_SETS_KEY],
        warned_checks=[name(e) for _, e in failed if e.severity != dg.AssetCheckSeverity.ERROR],
        untrained_goals=[
            f"{goal}: {e.check_name}: {e.description}"
            for goal, e in errors
            if e.asset_key == TRAINING_SETS_KEY
        ],
        row_counts=row_counts,
        models=models,
        scores=scores,
        matches=matches,
    )
