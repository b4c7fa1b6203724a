"""Job metrics: counts on a small hand-made warehouse, the tables they are written to, and the asset
run from the code location with a job history and the project's schedules."""

import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from b2b_scoring.defs.automation import (
    DAILY_JOB_METRICS_SCHEDULE,
    DAILY_PIPELINE_JOB,
    JOB_METRICS_JOB,
    TRAINING_JOB,
)
from b2b_scoring.defs.monitoring.job_metrics import JOB_METRICS_KEY, schedule_ticks, stored_schedule_statuses
from b2b_scoring.defs.partitions import partition_range_tags
from b2b_scoring.demo import run_job_metrics
from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.ingestion.ingest import ensure_raw_table
from b2b_scoring.lib.matching.store import create_matching_tables
from b2b_scoring.lib.monitoring.job_metrics import (
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

UTC = datetime.UTC
JUNE_30 = datetime.date(2025, 6, 30)
# goal, score date, tiers of its rows: lead_conversion's earlier day and webinar_signup's earlier
# latest day check that each goal counts its own latest score date only.
PERSON_SCORES = [
    ("lead_conversion", datetime.date(2025, 6, 29), "AAABC"),
    ("lead_conversion", JUNE_30, "AABCC"),
    ("webinar_signup", datetime.date(2025, 6, 28), "A"),
]
ACCOUNT_SCORES = [("opportunity_contract", JUNE_30, "ABBC")]


def build_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Scores, matches and persons with known counts (only the columns the metrics read, where the
    real table is not created here)."""
    con.execute("CREATE SCHEMA scores")
    for table, key, rows in (
        ("person_scores", "person_key", PERSON_SCORES),
        ("account_scores", "account_key", ACCOUNT_SCORES),
    ):
        con.execute(
            f"CREATE TABLE scores.{table} ({key} VARCHAR, goal VARCHAR, score_date DATE, tier VARCHAR)"
        )
        con.executemany(
            f"INSERT INTO scores.{table} VALUES (?, ?, ?, ?)",
            [(f"k{i}", goal, day, tier) for goal, day, tiers in rows for i, tier in enumerate(tiers)],
        )
    create_matching_tables(con)
    con.executemany(
        "INSERT INTO matching.account_person_relations (person_key, account_key, confidence, "
        "relationship_source, match_date, evidence) VALUES (?, ?, 0.9, ?, ?, ['email_domain'])",
        [
            ("p5", "a1", "lead_to_account_matching", JUNE_30),
            ("p6", "a2", "lead_to_account_matching", JUNE_30),
            ("p7", "a2", "manual", JUNE_30),
        ],
    )
    ensure_raw_table(con, CONTRACTS["persons"])
    con.executemany(
        "INSERT INTO raw.persons (person_key, created_at, account_key) VALUES (?, TIMESTAMP '2025-01-01', ?)",
        [("p1", "a1"), ("p2", "  "), ("p3", None), ("p4", "a2"), ("p5", None), ("p6", "")],
    )


@pytest.fixture
def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    build_warehouse(con)
    return con


def test_latest_score_date_of_every_goal_per_tier(warehouse: duckdb.DuckDBPyConnection) -> None:
    assert latest_scores(warehouse) == [
        GoalScores("person", "lead_conversion", JUNE_30, 5, {"A": 2, "B": 1, "C": 2}),
        GoalScores("person", "webinar_signup", datetime.date(2025, 6, 28), 1, {"A": 1, "B": 0, "C": 0}),
        GoalScores("account", "opportunity_contract", JUNE_30, 4, {"A": 1, "B": 2, "C": 1}),
    ]


def test_matched_persons_by_matching_and_by_the_crm(warehouse: duckdb.DuckDBPyConnection) -> None:
    # p7's relation comes from elsewhere; blank CRM account keys are no link.
    assert matched_persons(warehouse) == MatchedPersons(by_matching=2, by_crm=2)


def test_a_warehouse_without_scores_or_matches_counts_nothing() -> None:
    con = duckdb.connect()
    assert latest_scores(con) == []
    assert matched_persons(con) == MatchedPersons(0, 0)
    assert warehouse_metrics([], MatchedPersons(0, 0)) == [
        JobMetric("matched_persons", 0),
        JobMetric("crm_linked_persons", 0),
    ]


def test_metric_rows_of_the_scores_and_matches() -> None:
    scores = [GoalScores("account", "opportunity_contract", JUNE_30, 4, {"A": 1, "B": 2, "C": 1})]
    assert warehouse_metrics(scores, MatchedPersons(2, 3)) == [
        JobMetric("accounts_scored", 4, "opportunity_contract", JUNE_30),
        JobMetric("accounts_tier_a", 1, "opportunity_contract", JUNE_30),
        JobMetric("accounts_tier_b", 2, "opportunity_contract", JUNE_30),
        JobMetric("accounts_tier_c", 1, "opportunity_contract", JUNE_30),
        JobMetric("matched_persons", 2),
        JobMetric("crm_linked_persons", 3),
    ]


def test_snapshots_append_and_the_same_measurement_replaces_itself() -> None:
    con = duckdb.connect()
    first = datetime.datetime(2025, 7, 1, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    second = datetime.datetime(2025, 7, 2, 7, 0, tzinfo=UTC)
    write_job_metrics(
        con, first, [JobMetric("matched_persons", 1), JobMetric("persons_scored", 9, "g", JUNE_30)]
    )
    write_job_metrics(con, first, [JobMetric("matched_persons", 2)])
    write_job_metrics(con, second, [JobMetric("matched_persons", 3)])
    assert con.execute("SELECT * FROM monitoring.job_metrics ORDER BY measured_at").fetchall() == [
        (datetime.datetime(2025, 7, 1, 7, 0), "matched_persons", None, None, 2.0),
        (datetime.datetime(2025, 7, 2, 7, 0), "matched_persons", None, None, 3.0),
    ]


def test_runs_upsert_by_run_id() -> None:
    con = duckdb.connect()
    start = datetime.datetime(2025, 7, 1, 1, 0, tzinfo=UTC)
    upsert_job_runs(con, [JobRun("daily_pipeline_job", "r1", "STARTED", "2025-06-30", start, None)])
    upsert_job_runs(
        con,
        [
            JobRun(
                "daily_pipeline_job",
                "r1",
                "SUCCESS",
                "2025-06-30",
                start,
                start + datetime.timedelta(seconds=90),
            ),
            JobRun("training_job", "r2", "FAILURE", "lead_conversion", None, None),
        ],
    )
    upsert_job_runs(con, [])
    assert con.execute("SELECT * FROM monitoring.job_runs ORDER BY run_id").fetchall() == [
        (
            "daily_pipeline_job",
            "r1",
            "SUCCESS",
            "2025-06-30",
            datetime.datetime(2025, 7, 1, 1, 0),
            datetime.datetime(2025, 7, 1, 1, 1, 30),
            90.0,
        ),
        ("training_job", "r2", "FAILURE", "lead_conversion", None, None, None),
    ]


def test_schedule_ticks_are_replaced() -> None:
    con = duckdb.connect()
    tick = datetime.datetime(2025, 7, 3, 1, 0, tzinfo=UTC)
    replace_schedule_ticks(
        con,
        [
            ScheduleTick("nightly", "a_job", "0 1 * * *", "UTC", "RUNNING", tick),
            ScheduleTick("paused", "b_job", "0 5 * * *", "UTC", "STOPPED", None),
        ],
    )
    replace_schedule_ticks(con, [ScheduleTick("paused", "b_job", "0 5 * * *", "UTC", "STOPPED", None)])
    assert con.execute("SELECT * FROM monitoring.schedule_ticks").fetchall() == [
        ("paused", "b_job", "0 5 * * *", "UTC", "STOPPED", None)
    ]


def test_next_ticks_follow_cron_timezone_and_the_status_set_in_the_ui() -> None:
    schedules = [
        dg.ScheduleDefinition(
            name="nightly",
            job_name="a_job",
            cron_schedule="0 1 * * *",
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
        dg.ScheduleDefinition(
            name="weekly",
            job_name="b_job",
            cron_schedule="0 3 * * 1",
            execution_timezone="Europe/Berlin",
            default_status=dg.DefaultScheduleStatus.RUNNING,
        ),
        dg.ScheduleDefinition(name="paused", job_name="c_job", cron_schedule="0 5 * * *"),
    ]
    wednesday_noon = datetime.datetime(2025, 7, 2, 12, 0, tzinfo=UTC)
    ticks = {tick.schedule_name: tick for tick in schedule_ticks(schedules, {}, wednesday_noon)}
    assert ticks["nightly"].next_tick == datetime.datetime(2025, 7, 3, 1, 0, tzinfo=UTC)
    # Monday 03:00 in Berlin (summer time) is 01:00 UTC.
    assert ticks["weekly"].next_tick == datetime.datetime(2025, 7, 7, 1, 0, tzinfo=UTC)
    assert (ticks["paused"].status, ticks["paused"].timezone, ticks["paused"].next_tick) == (
        "STOPPED",
        "UTC",
        None,
    )

    toggled = {
        tick.schedule_name: tick
        for tick in schedule_ticks(schedules, {"paused": "RUNNING", "weekly": "STOPPED"}, wednesday_noon)
    }
    assert toggled["paused"].next_tick == datetime.datetime(2025, 7, 3, 5, 0, tzinfo=UTC)
    assert (toggled["weekly"].status, toggled["weekly"].next_tick) == ("STOPPED", None)


def test_statuses_stored_by_the_ui_override_the_defaults_of_schedules_only() -> None:
    # What the UI stores when someone toggles an instigator (Dagster internals, as in its own tests).
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemoteInstigatorOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        ScheduleInstigatorData,
        SensorInstigatorData,
    )

    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("b2b_scoring"), "__repository__")

    def state(name: str, status: InstigatorStatus, schedule: bool = True) -> InstigatorState:
        origin = RemoteInstigatorOrigin(repository, name)
        if schedule:
            return InstigatorState(
                origin, InstigatorType.SCHEDULE, status, ScheduleInstigatorData("0 3 * * 1")
            )
        return InstigatorState(origin, InstigatorType.SENSOR, status, SensorInstigatorData())

    with dg.instance_for_test() as instance:
        instance.add_instigator_state(state("weekly_retraining", InstigatorStatus.STOPPED))
        instance.add_instigator_state(state("daily_pipeline_job_schedule", InstigatorStatus.DECLARED_IN_CODE))
        instance.add_instigator_state(
            state("score_after_daily_pipeline", InstigatorStatus.STOPPED, schedule=False)
        )
        assert stored_schedule_statuses(instance) == {"weekly_retraining": "STOPPED"}


def _run_stub_jobs(instance: dg.DagsterInstance) -> None:
    """A failed daily pipeline run over a range of days and a successful training run of a goal."""

    @dg.op
    def fails() -> None:
        raise RuntimeError("the landing folder is empty")

    @dg.op
    def succeeds() -> None:
        return None

    @dg.job(name=DAILY_PIPELINE_JOB)
    def daily_pipeline_stub() -> None:
        fails()

    @dg.job(name=TRAINING_JOB)
    def training_stub() -> None:
        succeeds()

    daily_pipeline_stub.execute_in_process(
        instance=instance, tags=partition_range_tags("2025-06-01", "2025-06-30"), raise_on_error=False
    )
    training_stub.execute_in_process(instance=instance, tags={"dagster/partition": "lead_conversion"})


def _next_utc(after: datetime.datetime, hour: int) -> datetime.datetime:
    candidate = after.replace(hour=hour, minute=0, second=0, microsecond=0)
    return candidate if candidate > after else candidate + datetime.timedelta(days=1)


def test_job_metrics_asset_records_scores_matches_schedules_and_runs(isolated_env: Path) -> None:
    warehouse_path = Settings.from_env().warehouse_path
    warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(warehouse_path)) as con:
        build_warehouse(con)
    with dg.instance_for_test() as instance:
        _run_stub_jobs(instance)
        before = datetime.datetime.now(UTC).replace(tzinfo=None)
        first = run_job_metrics(instance)
        second = run_job_metrics(instance)

    assert first.success and second.success
    (event,) = second.get_asset_materialization_events()
    assert event.asset_key == JOB_METRICS_KEY
    metadata = {name: value.value for name, value in event.materialization.metadata.items()}
    assert metadata["persons_scored_lead_conversion"] == 5
    assert metadata["persons_scored_webinar_signup"] == 1
    assert metadata["accounts_scored_opportunity_contract"] == 4
    assert (metadata["matched_persons"], metadata["crm_linked_persons"]) == (2, 2)
    assert metadata["failed_runs_last_7_days"] == 1
    assert "score_after_daily_pipeline" in metadata["next_scoring"]
    assert "| person | lead_conversion | 2025-06-30 | 5 | 2 | 1 | 2 |" in metadata["scored_per_goal"]
    assert "| daily_pipeline_job | FAILURE | 2025-06-01..2025-06-30 |" in metadata["last_runs"]

    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        ticks = {
            name: rest for name, *rest in con.execute("SELECT * FROM monitoring.schedule_ticks").fetchall()
        }
        runs = con.execute(
            'SELECT job_name, status, "partition", duration_seconds FROM monitoring.job_runs '
            "ORDER BY started_at"
        ).fetchall()
        snapshots = con.execute(
            "SELECT measured_at, value FROM monitoring.job_metrics WHERE metric = 'persons_scored' "
            "AND goal = 'lead_conversion' AND score_date = DATE '2025-06-30' ORDER BY measured_at"
        ).fetchall()
        metric_rows = con.execute(
            "SELECT metric, goal, value FROM monitoring.job_metrics "
            "WHERE measured_at = (SELECT max(measured_at) FROM monitoring.job_metrics) ORDER BY metric, goal"
        ).fetchall()

    assert set(ticks) == {"daily_pipeline_job_schedule", "weekly_retraining", DAILY_JOB_METRICS_SCHEDULE}
    job, cron, timezone, status, next_pipeline = ticks["daily_pipeline_job_schedule"]
    assert (job, cron, timezone, status) == (DAILY_PIPELINE_JOB, "0 1 * * *", "UTC", "RUNNING")
    assert next_pipeline == _next_utc(before, 1)
    next_training = ticks["weekly_retraining"][-1]
    assert next_training.weekday() == 0 and next_training.time() == datetime.time(3, 0)
    assert before < next_training <= before + datetime.timedelta(days=7)
    assert ticks[DAILY_JOB_METRICS_SCHEDULE][0] == JOB_METRICS_JOB

    # The first job metrics run has finished by the second one; the second sees itself running.
    assert [run[:3] for run in runs] == [
        (DAILY_PIPELINE_JOB, "FAILURE", "2025-06-01..2025-06-30"),
        (TRAINING_JOB, "SUCCESS", "lead_conversion"),
        (JOB_METRICS_JOB, "SUCCESS", None),
        (JOB_METRICS_JOB, "STARTED", None),
    ]
    assert all(duration >= 0 for *_, duration in runs[:3]) and runs[3][3] is None
    assert [value for _, value in snapshots] == [5.0, 5.0] and snapshots[0][0] < snapshots[1][0]
    assert metric_rows == [
        ("accounts_scored", "opportunity_contract", 4.0),
        ("accounts_tier_a", "opportunity_contract", 1.0),
        ("accounts_tier_b", "opportunity_contract", 2.0),
        ("accounts_tier_c", "opportunity_contract", 1.0),
        ("crm_linked_persons", None, 2.0),
        ("failed_runs_last_7_days", None, 1.0),
        ("matched_persons", None, 2.0),
        ("persons_scored", "lead_conversion", 5.0),
        ("persons_scored", "webinar_signup", 1.0),
        ("persons_tier_a", "lead_conversion", 2.0),
        ("persons_tier_a", "webinar_signup", 1.0),
        ("persons_tier_b", "lead_conversion", 1.0),
        ("persons_tier_b", "webinar_signup", 0.0),
        ("persons_tier_c", "lead_conversion", 2.0),
        ("persons_tier_c", "webinar_signup", 0.0),
    ]
