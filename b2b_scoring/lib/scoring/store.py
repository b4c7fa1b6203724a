"""Scores in the warehouse (`scores.person_scores`, `scores.account_scores`) and the daily CRM
export of the records whose score or tier changed.

One goal and score date is written at a time, delete-then-insert in one transaction, so a run
repeated (or a backfill over days already scored) leaves the same rows. The previous score of a
record is its row on the latest earlier score date of the goal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from b2b_scoring.lib.exports import export_csv_and_parquet
from b2b_scoring.lib.goals import Entity, Goal
from b2b_scoring.lib.ingestion.ingest import naive_utc
from b2b_scoring.lib.ml.training_sets import excludes_converted
from b2b_scoring.lib.scoring.rollups import ROLLUPS
from b2b_scoring.lib.sql import table_exists, transaction

SCORE_TABLES: dict[str, str] = {"person": "scores.person_scores", "account": "scores.account_scores"}
INTRADAY_TABLE = "scores.intraday_person_scores"
SHADOW_TABLE = "scores.shadow_scores"
KEY_COLUMNS: dict[str, str] = {"person": "person_key", "account": "account_key"}
CRM_ID_FIELDS: dict[str, str] = {"person": "Lead_ID", "account": "Account_ID"}
ROLLUP_COLUMNS = tuple(f"rollup_{name}" for name in ROLLUPS)
DAILY_FEATURES: dict[str, str] = {
    "person": "features.person_features",
    "account": "features.account_features",
}


def scoring_population(
    con: duckdb.DuckDBPyConnection, goal: Goal, as_of: dt.date, keys: pa.Array | pa.ChunkedArray | None = None
) -> pa.Table:
    """The records a goal scores as of a date: every row of the daily features of that date (or
    of the given keys only), but persons already converted when the goal is the lead conversion
    (as in its training set)."""
    key = KEY_COLUMNS[goal.entity]
    converted = "AND NOT has_converted" if excludes_converted(goal) else ""
    only = ""
    if keys is not None:
        con.register("_keys", pa.table({key: keys}))
        only = f"AND {key} IN (SELECT {key} FROM _keys)"
    try:
        return con.sql(
            f"SELECT * FROM {DAILY_FEATURES[goal.entity]} WHERE as_of_date = $day {converted} {only} "
            f"ORDER BY {key}",
            params={"day": as_of},
        ).to_arrow_table()
    finally:
        if keys is not None:
            con.unregister("_keys")


def ensure_score_table(con: duckdb.DuckDBPyConnection, entity: Entity, table: str | None = None) -> str:
    table, key = table or SCORE_TABLES[entity], KEY_COLUMNS[entity]
    con.execute("CREATE SCHEMA IF NOT EXISTS scores")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {table} (
            {key} VARCHAR NOT NULL,
            goal VARCHAR NOT NULL,
            score_date DATE NOT NULL,
            model_type VARCHAR NOT NULL,
            model_version INTEGER NOT NULL,
            probability DOUBLE NOT NULL,
            score SMALLINT NOT NULL,
            percentile SMALLINT NOT NULL,
            tier VARCHAR NOT NULL,
            route VARCHAR NOT NULL,
            influential_factors STRUCT(code VARCHAR, "value" VARCHAR, importance VARCHAR,
                                       reason VARCHAR, log_odds DOUBLE)[],
            previous_score SMALLINT,
            previous_tier VARCHAR,
            score_change SMALLINT,
            change_drivers STRUCT(code VARCHAR, direction VARCHAR, log_odds DOUBLE)[],
            scored_at TIMESTAMP NOT NULL,
            exploration BOOLEAN NOT NULL DEFAULT false
        )
        """
    )
    # Score tables written before the exploration slice.
    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS exploration BOOLEAN DEFAULT false")
    if entity == "account":
        for name in ROLLUP_COLUMNS:
            con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} DOUBLE")
    return table


@dataclass(frozen=True)
class WrittenScores:
    rows: int
    tiers: dict[str, int]
    changed: int
    previous_score_date: dt.date | None


def write_scores(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    goal: str,
    score_date: dt.date,
    model_version: int,
    scored: pa.Table,
    scored_at: dt.datetime | None = None,
) -> WrittenScores:
    """Replace the goal's scores of `score_date` with `scored` (from `score_records`), stamped
    `scored_at` (default: now, UTC)."""
    scored_at = scored_at or naive_utc(dt.datetime.now(dt.UTC))
    table, key = ensure_score_table(con, entity), KEY_COLUMNS[entity]
    with transaction(con):
        previous_date = con.execute(
            f"SELECT max(score_date) FROM {table} WHERE goal = $goal AND score_date < $day",
            {"goal": goal, "day": score_date},
        ).fetchall()[0][0]
        con.execute(
            f"DELETE FROM {table} WHERE goal = $goal AND score_date = $day", {"goal": goal, "day": score_date}
        )
        _insert_scored(
            con, table, entity, goal, score_date, model_version, scored, scored_at, (table, previous_date)
        )
        _refresh_next_date(con, table, key, goal, score_date)
        tiers = dict(
            con.execute(
                f"SELECT tier, count(*) FROM {table} WHERE goal = $goal AND score_date = $day "
                "GROUP BY 1 ORDER BY 1",
                {"goal": goal, "day": score_date},
            ).fetchall()
        )
        changed = con.execute(
            f"SELECT count(*) FROM {table} WHERE goal = $goal AND score_date = $day AND {_CHANGED}",
            {"goal": goal, "day": score_date},
        ).fetchall()[0][0]
    return WrittenScores(sum(tiers.values()), tiers, changed, previous_date)


def _insert_scored(
    con: duckdb.DuckDBPyConnection,
    table: str,
    entity: Entity,
    goal: str,
    score_date: dt.date,
    model_version: int,
    scored: pa.Table,
    scored_at: dt.datetime,
    previous: tuple[str, dt.date | None],
) -> None:
    """Insert `scored` into `table`, each record with its previous score from `previous`
    (table, score date)."""
    key = KEY_COLUMNS[entity]
    previous_table, previous_date = previous
    rollups = "".join(f", s.{name}" for name in ROLLUP_COLUMNS if name in scored.column_names)
    con.register("_scored", scored)
    try:
        con.execute(
            f"""
            INSERT INTO {table} BY NAME
            SELECT s.{key}, $goal AS goal, $day AS score_date, $entity AS model_type,
                   $version AS model_version, s.probability, s.score, s.percentile, s.tier, s.route,
                   s.exploration,
                   s.influential_factors, p.score AS previous_score, p.tier AS previous_tier,
                   s.score - p.score AS score_change, s.change_drivers, $at AS scored_at
                   {rollups}
            FROM _scored s
            LEFT JOIN {previous_table} p ON p.{key} = s.{key} AND p.goal = $goal AND p.score_date = $previous
            """,
            {
                "goal": goal,
                "day": score_date,
                "entity": entity,
                "version": model_version,
                "at": scored_at,
                "previous": previous_date,
            },
        )
    finally:
        con.unregister("_scored")


def _refresh_next_date(
    con: duckdb.DuckDBPyConnection, table: str, key: str, goal: str, score_date: dt.date
) -> None:
    """The next later score date's previous scores now come from `score_date` (days scored out
    of order, or one scored again)."""
    params = {"goal": goal, "day": score_date}
    following = con.execute(
        f"SELECT min(score_date) FROM {table} WHERE goal = $goal AND score_date > $day", params
    ).fetchall()[0][0]
    if following is None:
        return
    params["next"] = following
    con.execute(
        f"UPDATE {table} SET previous_score = NULL, previous_tier = NULL, score_change = NULL "
        "WHERE goal = $goal AND score_date = $next",
        {"goal": goal, "next": following},
    )
    con.execute(
        f"""
        UPDATE {table} AS n
        SET previous_score = p.score, previous_tier = p.tier, score_change = n.score - p.score
        FROM {table} AS p
        WHERE n.goal = $goal AND n.score_date = $next AND p.goal = $goal AND p.score_date = $day
            AND p.{key} = n.{key}
        """,
        params,
    )


def write_shadow_scores(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    goal: str,
    score_date: dt.date,
    model_version: int | None,
    shadow: pa.Table | None,
) -> int:
    """Replace the goal's shadow scores of `score_date` with the challenger's `shadow` (from
    `shadow_scores`); None (no challenger now) clears them."""
    con.execute("CREATE SCHEMA IF NOT EXISTS scores")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {SHADOW_TABLE} (
            entity VARCHAR NOT NULL, goal VARCHAR NOT NULL, score_date DATE NOT NULL,
            model_version INTEGER NOT NULL, record_key VARCHAR NOT NULL, probability DOUBLE NOT NULL,
            score SMALLINT NOT NULL, tier VARCHAR NOT NULL
        )
        """
    )
    with transaction(con):
        con.execute(
            f"DELETE FROM {SHADOW_TABLE} WHERE goal = $goal AND score_date = $day",
            {"goal": goal, "day": score_date},
        )
        if shadow is None:
            return 0
        con.register("_shadow", shadow)
        try:
            con.execute(
                f"INSERT INTO {SHADOW_TABLE} SELECT $entity, $goal, $day, $version, record_key, probability, "
                "score, tier FROM _shadow",
                {"entity": entity, "goal": goal, "day": score_date, "version": model_version},
            )
        finally:
            con.unregister("_shadow")
    return shadow.num_rows


_CHANGED = "(previous_score IS NULL OR score <> previous_score OR tier <> previous_tier)"


def export_changes(
    con: duckdb.DuckDBPyConnection, entity: Entity, goal: str, score_date: dt.date, directory: Path
) -> tuple[int, Path, Path]:
    """The records of the goal and day whose score or tier changed (or that are new), in CRM field
    names, as spreadsheet-safe CSV and as Parquet: (rows, csv path, parquet path)."""
    table, key = SCORE_TABLES[entity], KEY_COLUMNS[entity]
    return export_csv_and_parquet(
        con,
        f"""
        SELECT {key} AS {CRM_ID_FIELDS[entity]},
               goal AS Scoring_Goal__c,
               score_date AS Score_Date__c,
               score AS Predictive_Score__c,
               percentile AS Score_Percentile__c,
               tier AS Score_Tier__c,
               route AS Routing_Queue__c,
               round(probability, 6) AS Conversion_Probability__c,
               score_change AS Score_Change__c,
               array_to_string(list_transform(influential_factors, lambda f: f.reason), '; ')
                   AS Score_Reasons__c,
               model_version AS Model_Version__c,
               exploration AS Exploration_Slice__c
        FROM {table}
        WHERE goal = $goal AND score_date = $day AND {_CHANGED}
        ORDER BY score DESC, {key}
        """,
        {"goal": goal, "day": score_date},
        directory / goal / f"{entity}_scores_{score_date.isoformat()}",
    )


def score_history(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    key: str,
    goal: str | None = None,
    until: dt.date | None = None,
    days: int = 14,
) -> list[dict]:
    """A record's scores (all goals, or one) on the `days` score dates up to `until`, newest first."""
    table = SCORE_TABLES[entity]
    if not table_exists(con, table):
        return []
    return (
        con.sql(
            f"""
            SELECT goal, score_date, model_version, probability, score, percentile, tier, route,
                   previous_score, score_change, influential_factors, change_drivers
            FROM {table}
            WHERE {KEY_COLUMNS[entity]} = $key AND ($goal IS NULL OR goal = $goal)
              AND score_date <= coalesce($until, DATE '9999-12-31')
              AND score_date > coalesce($until, (SELECT max(score_date) FROM {table})) - to_days($days)
            ORDER BY goal, score_date DESC
            """,
            params={"key": key, "goal": goal, "until": until, "days": days},
        )
        .to_arrow_table()
        .to_pylist()
    )


def write_intraday_scores(
    con: duckdb.DuckDBPyConnection,
    goal: str,
    score_date: dt.date,
    model_version: int,
    scored: pa.Table,
    scored_at: dt.datetime | None = None,
) -> int:
    """Replace the intraday scores of the persons in `scored` (goal, score date); the previous
    score is the person's daily score of the day before (the morning run's), so score_change is
    the move since this morning. Rows of other persons stay."""
    scored_at = scored_at or naive_utc(dt.datetime.now(dt.UTC))
    daily = ensure_score_table(con, "person")
    table = ensure_score_table(con, "person", INTRADAY_TABLE)
    with transaction(con):
        con.register("_scored_keys", scored.select(["person_key"]))
        try:
            con.execute(
                f"DELETE FROM {table} WHERE goal = $goal AND score_date = $day "
                "AND person_key IN (SELECT person_key FROM _scored_keys)",
                {"goal": goal, "day": score_date},
            )
        finally:
            con.unregister("_scored_keys")
        morning = score_date - dt.timedelta(days=1)
        _insert_scored(
            con, table, "person", goal, score_date, model_version, scored, scored_at, (daily, morning)
        )
    return scored.num_rows
