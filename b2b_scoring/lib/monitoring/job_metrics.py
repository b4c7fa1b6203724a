"""Job metrics: what the jobs scored and matched, how their runs went and when the schedules fire
next, in three tables of the `monitoring` schema.

- `monitoring.job_metrics`: one snapshot per measurement, in long form (measured_at, metric, goal,
  score_date, value). For the latest score date of every goal: `<entity>s_scored` and
  `<entity>s_tier_<a|b|c>` (entity person or account); for the warehouse as a whole:
  `matched_persons` (linked by lead-to-account matching) and `crm_linked_persons` (the CRM's own
  account link), plus what the caller adds (e.g. failed runs). Writing the same measured_at
  again replaces that snapshot.
- `monitoring.job_runs`: one row per run of a job, upserted by run_id, so the history grows with
  every measurement while a run's status stays current.
- `monitoring.schedule_ticks`: every schedule with its cron, status and next tick, replaced each
  time.

The counts are aggregated in DuckDB; score and matching tables that do not exist yet (a warehouse
not trained or matched) count as empty. Times are stored as naive UTC, like the rest of the
warehouse. Runs and schedules come in as plain rows: reading them from Dagster is the asset's job.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from b2b_scoring.lib.ingestion.ingest import naive_utc
from b2b_scoring.lib.matching.matcher import RELATIONSHIP_SOURCE
from b2b_scoring.lib.matching.store import RELATIONS_TABLE
from b2b_scoring.lib.scoring.scores import TIERS
from b2b_scoring.lib.scoring.store import SCORE_TABLES
from b2b_scoring.lib.sql import count_rows, table_exists, transaction

SCHEMA = "monitoring"
METRICS_TABLE = f"{SCHEMA}.job_metrics"
RUNS_TABLE = f"{SCHEMA}.job_runs"
TICKS_TABLE = f"{SCHEMA}.schedule_ticks"
RAW_PERSONS_TABLE = "raw.persons"
MATCHED_PERSONS = "matched_persons"
CRM_LINKED_PERSONS = "crm_linked_persons"
TIER_NAMES = [str(tier) for tier in TIERS]


@dataclass(frozen=True)
class GoalScores:
    """The records of a goal scored on its latest score date, in total and per tier."""

    entity: str
    goal: str
    score_date: datetime.date
    scored: int
    tiers: dict[str, int]


@dataclass(frozen=True)
class MatchedPersons:
    by_matching: int
    by_crm: int


@dataclass(frozen=True)
class JobMetric:
    metric: str
    value: float
    goal: str | None = None
    score_date: datetime.date | None = None


@dataclass(frozen=True)
class JobRun:
    job_name: str
    run_id: str
    status: str
    partition: str | None
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class ScheduleTick:
    """A schedule as it stands: next_tick is None while it is stopped."""

    schedule_name: str
    job_name: str
    cron: str
    timezone: str
    status: str
    next_tick: datetime.datetime | None


def latest_scores(con: duckdb.DuckDBPyConnection) -> list[GoalScores]:
    """Per entity and goal (in that order), the records scored on the goal's latest score date and
    their count per tier (every tier, 0 when empty)."""
    tier_counts = ", ".join("count(*) FILTER (WHERE tier = ?)" for _ in TIER_NAMES)
    scores = []
    for entity, table in SCORE_TABLES.items():
        if not table_exists(con, table):
            continue
        rows = con.execute(
            f"""
            WITH latest AS (SELECT goal, max(score_date) AS score_date FROM {table} GROUP BY goal)
            SELECT goal, score_date, count(*), {tier_counts}
            FROM {table} JOIN latest USING (goal, score_date)
            GROUP BY goal, score_date
            ORDER BY goal
            """,
            TIER_NAMES,
        ).fetchall()
        scores += [
            GoalScores(entity, goal, day, scored, dict(zip(TIER_NAMES, counts, strict=True)))
            for goal, day, scored, *counts in rows
        ]
    return scores


def matched_persons(con: duckdb.DuckDBPyConnection) -> MatchedPersons:
    """Persons linked to an account by lead-to-account matching, and by the CRM itself."""
    by_matching = (
        count_rows(
            con,
            f"SELECT count(*) FROM {RELATIONS_TABLE} WHERE relationship_source = ?",
            [RELATIONSHIP_SOURCE],
        )
        if table_exists(con, RELATIONS_TABLE)
        else 0
    )
    by_crm = (
        count_rows(
            con, f"SELECT count(*) FROM {RAW_PERSONS_TABLE} WHERE nullif(trim(account_key), '') IS NOT NULL"
        )
        if table_exists(con, RAW_PERSONS_TABLE)
        else 0
    )
    return MatchedPersons(by_matching=by_matching, by_crm=by_crm)


def warehouse_metrics(scores: Sequence[GoalScores], matched: MatchedPersons) -> list[JobMetric]:
    """The metrics rows of the scores per goal and of the matched persons."""
    metrics = []
    for goal_scores in scores:
        prefix, goal, day = f"{goal_scores.entity}s", goal_scores.goal, goal_scores.score_date
        metrics.append(JobMetric(f"{prefix}_scored", goal_scores.scored, goal, day))
        metrics += [
            JobMetric(f"{prefix}_tier_{tier.lower()}", count, goal, day)
            for tier, count in goal_scores.tiers.items()
        ]
    metrics.append(JobMetric(MATCHED_PERSONS, matched.by_matching))
    metrics.append(JobMetric(CRM_LINKED_PERSONS, matched.by_crm))
    return metrics


def create_job_metrics_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {METRICS_TABLE} (
            measured_at TIMESTAMP NOT NULL,
            metric VARCHAR NOT NULL,
            goal VARCHAR,
            score_date DATE,
            value DOUBLE NOT NULL
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
            job_name VARCHAR NOT NULL,
            run_id VARCHAR PRIMARY KEY,
            status VARCHAR NOT NULL,
            "partition" VARCHAR,
            started_at TIMESTAMP,
            ended_at TIMESTAMP,
            duration_seconds DOUBLE
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {TICKS_TABLE} (
            schedule_name VARCHAR PRIMARY KEY,
            job_name VARCHAR NOT NULL,
            cron VARCHAR NOT NULL,
            timezone VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            next_tick TIMESTAMP
        )
        """
    )


def write_job_metrics(
    con: duckdb.DuckDBPyConnection, measured_at: datetime.datetime, metrics: Sequence[JobMetric]
) -> None:
    """Append the snapshot taken at measured_at (replacing one written before at the same time)."""
    at = naive_utc(measured_at)
    create_job_metrics_tables(con)
    with transaction(con):
        con.execute(f"DELETE FROM {METRICS_TABLE} WHERE measured_at = ?", [at])
        _insert(con, METRICS_TABLE, [(at, m.metric, m.goal, m.score_date, m.value) for m in metrics])


def upsert_job_runs(con: duckdb.DuckDBPyConnection, runs: Sequence[JobRun]) -> None:
    """Insert new runs and replace the rows of runs seen before (their status may have moved on)."""
    create_job_metrics_tables(con)
    rows = [
        (
            run.job_name,
            run.run_id,
            run.status,
            run.partition,
            _naive_utc_or_none(run.started_at),
            _naive_utc_or_none(run.ended_at),
            run.duration_seconds,
        )
        for run in runs
    ]
    _insert(con, RUNS_TABLE, rows, "INSERT OR REPLACE INTO")


def replace_schedule_ticks(con: duckdb.DuckDBPyConnection, ticks: Sequence[ScheduleTick]) -> None:
    """Make the table list exactly these schedules."""
    rows = [
        (t.schedule_name, t.job_name, t.cron, t.timezone, t.status, _naive_utc_or_none(t.next_tick))
        for t in ticks
    ]
    create_job_metrics_tables(con)
    with transaction(con):
        con.execute(f"DELETE FROM {TICKS_TABLE}")
        _insert(con, TICKS_TABLE, rows)


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple], statement: str = "INSERT INTO"
) -> None:
    """A few rows (one per metric, run or schedule), in the table's column order."""
    if rows:
        con.executemany(f"{statement} {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)


def _naive_utc_or_none(value: datetime.datetime | None) -> datetime.datetime | None:
    return None if value is None else naive_utc(value)
