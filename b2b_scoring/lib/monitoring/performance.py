"""Realized performance: once a score date's prediction window has passed, how good were the
scores given that day? Per goal and matured score date:
- monitoring.realized_performance: ROC-AUC, PR-AUC, lift and recall in the top 10%, Brier score
  and calibration error of the day's probabilities against the goal's conversions within
  [score_date, score_date + window) — the label of the training set, so the numbers compare with
  the backtest;
- monitoring.tier_performance: per tier, records, conversions, conversion rate, mean days to
  convert (velocity) and, for account goals, the share with a Closed Won opportunity in the window;
- monitoring.segment_calibration: per industry, company size band and country, the predicted
  against the realized conversion rate, pooled over the matured dates of the last 90 days;
  segments the model under-scores (realized >= 1.25x predicted, at least 10 conversions) flagged.
- monitoring.exploration: the exploration slice (tier C leads routed to sales anyway) against the
  rest of tier C: records, conversions and records sales worked (a disposition in the window).
  The slice is a random draw, so its conversion rate estimates what tier C holds unworked.
A score date matures when its window ends on or before the last day with events.
"""

from __future__ import annotations

import datetime

import duckdb
import numpy as np

from b2b_scoring.lib.goals import Goal
from b2b_scoring.lib.ml.metrics import evaluate
from b2b_scoring.lib.ml.training_sets import conversions_sql, data_span
from b2b_scoring.lib.scoring.scores import LOWEST_TIER, TIERS
from b2b_scoring.lib.scoring.store import KEY_COLUMNS, SCORE_TABLES
from b2b_scoring.lib.sql import fetch_single_row, table_exists, transaction

REALIZED_TABLE = "monitoring.realized_performance"
TIER_TABLE = "monitoring.tier_performance"
SEGMENT_TABLE = "monitoring.segment_calibration"
EXPLORATION_TABLE = "monitoring.exploration"
SEGMENT_DAYS = 90
UNDER_SCORED_RATIO = 1.25
# Realized ROC-AUC (mean of the latest RECENT_DATES matured dates) this far below the model's
# backtest, or further, recommends retraining.
REALIZED_AUC_DROP = 0.05
RECENT_DATES = 7
MIN_SEGMENT_CONVERSIONS = 10
METRICS = ("roc_auc", "pr_auc", "lift_at_10", "recall_at_10", "brier", "calibration_error")


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
    metric_columns = ", ".join(f"{name} DOUBLE" for name in METRICS)
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {REALIZED_TABLE} (
            goal VARCHAR NOT NULL, score_date DATE NOT NULL, model_versions INTEGER[] NOT NULL,
            window_end DATE NOT NULL, scored BIGINT NOT NULL, conversions BIGINT NOT NULL,
            conversion_rate DOUBLE NOT NULL, mean_probability DOUBLE NOT NULL, {metric_columns},
            PRIMARY KEY (goal, score_date)
        );
        CREATE TABLE IF NOT EXISTS {TIER_TABLE} (
            goal VARCHAR NOT NULL, score_date DATE NOT NULL, tier VARCHAR NOT NULL, scored BIGINT NOT NULL,
            conversions BIGINT NOT NULL, conversion_rate DOUBLE NOT NULL, mean_days_to_convert DOUBLE,
            won_rate DOUBLE, PRIMARY KEY (goal, score_date, tier)
        );
        CREATE TABLE IF NOT EXISTS {EXPLORATION_TABLE} (
            goal VARCHAR NOT NULL, score_date DATE NOT NULL, slice_records BIGINT NOT NULL,
            slice_conversions BIGINT NOT NULL, slice_worked BIGINT, rest_of_tier_c_records BIGINT NOT NULL,
            rest_of_tier_c_conversions BIGINT NOT NULL, rest_of_tier_c_worked BIGINT,
            PRIMARY KEY (goal, score_date)
        );
        CREATE TABLE IF NOT EXISTS {SEGMENT_TABLE} (
            goal VARCHAR NOT NULL, as_of_date DATE NOT NULL, dimension VARCHAR NOT NULL,
            segment VARCHAR NOT NULL,
            scored BIGINT NOT NULL, conversions BIGINT NOT NULL, mean_score DOUBLE NOT NULL,
            predicted_rate DOUBLE NOT NULL, realized_rate DOUBLE NOT NULL, realized_over_predicted DOUBLE,
            under_scored BOOLEAN NOT NULL, PRIMARY KEY (goal, as_of_date, dimension, segment)
        )
        """
    )


def create_outcomes(con: duckdb.DuckDBPyConnection, goal: Goal, dates: list[datetime.date]) -> None:
    """Temp table _outcomes: the goal's scores of `dates` with the label, days to the first
    conversion in the window and (accounts) whether an opportunity was won in it."""
    conversions, parameters = conversions_sql(goal)
    key = KEY_COLUMNS[goal.entity]
    won = (
        "bool_or(o.won_at >= s.score_date AND o.won_at < s.score_date + to_days($window::INTEGER)) AS won"
        if goal.entity == "account"
        else "NULL::BOOLEAN AS won"
    )
    opportunities = (
        "LEFT JOIN staging.int_opportunities AS o ON o.account_key = s.account_key"
        if goal.entity == "account"
        else ""
    )
    worked, dispositions = "NULL::BOOLEAN AS worked", ""
    if goal.entity == "person":
        worked = "bool_or(d.person_key IS NOT NULL) AS worked"
        dispositions = (
            "LEFT JOIN staging.stg_sales_dispositions AS d ON d.person_key = s.person_key "
            "AND d.disposition_at >= s.score_date "
            "AND d.disposition_at < s.score_date + to_days($window::INTEGER)"
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _outcomes AS
        WITH conversions AS ({conversions})
        SELECT s.{key} AS key, s.score_date, s.model_version, s.probability, s.score, s.tier,
               coalesce(s.exploration, false) AS exploration,
               min(c.converted_at::DATE - s.score_date) AS days_to_convert,
               min(c.converted_at) IS NOT NULL AS converted,
               {won}, {worked}
        FROM {SCORE_TABLES[goal.entity]} AS s
        LEFT JOIN conversions AS c
          ON c.key = s.{key} AND c.converted_at >= s.score_date
         AND c.converted_at < s.score_date + to_days($window::INTEGER)
        {opportunities}
        {dispositions}
        WHERE s.goal = $goal AND list_contains($dates, s.score_date)
        GROUP BY ALL
        """,
        {**parameters, "window": goal.prediction_window_days, "goal": goal.name, "dates": dates},
    )


def matured_score_dates(con: duckdb.DuckDBPyConnection, goal: Goal) -> list[datetime.date]:
    """The goal's score dates whose prediction window has ended by the last day with events."""
    # The same horizon as the training labels: a window is observed once its last day has events.
    last = data_span(con, goal).last_event_date
    if last is None or not table_exists(con, SCORE_TABLES[goal.entity]):
        return []
    rows = con.execute(
        f"SELECT DISTINCT score_date FROM {SCORE_TABLES[goal.entity]} "
        "WHERE goal = ? AND score_date + (?::INTEGER - 1) <= ? ORDER BY 1",
        [goal.name, goal.prediction_window_days, last],
    ).fetchall()
    return [row[0] for row in rows]


def write_realized_performance(con: duckdb.DuckDBPyConnection, goal: Goal) -> list[datetime.date]:
    """Evaluate every matured score date of the goal not evaluated yet (its outcome no longer
    changes), and refresh the segment calibration as of the last matured date; returns the dates
    evaluated now."""
    _create_tables(con)
    matured = matured_score_dates(con, goal)
    done = {
        row[0]
        for row in con.execute(
            f"SELECT score_date FROM {REALIZED_TABLE} WHERE goal = ?", [goal.name]
        ).fetchall()
    }
    pending = [day for day in matured if day not in done]
    if not pending:
        return []
    create_outcomes(con, goal, pending)
    realized = []
    for day in pending:
        probability, label, versions = fetch_single_row(
            con,
            "SELECT list(probability ORDER BY key), list(converted::INTEGER ORDER BY key), "
            "list(DISTINCT model_version ORDER BY model_version) FROM _outcomes WHERE score_date = ?",
            [day],
        )
        probability, label = np.asarray(probability, dtype=float), np.asarray(label, dtype=np.int8)
        both_classes = 0 < label.sum() < len(label)
        metrics = evaluate(probability, label) if both_classes else {}
        realized.append(
            {
                "goal": goal.name,
                "score_date": day,
                "model_versions": versions,
                "window_end": day + datetime.timedelta(days=goal.prediction_window_days - 1),
                "scored": len(label),
                "conversions": int(label.sum()),
                "conversion_rate": float(label.mean()),
                "mean_probability": float(probability.mean()),
                **{name: metrics.get(name) for name in METRICS},
            }
        )
    columns = list(realized[0])
    with transaction(con):
        con.executemany(
            f"INSERT OR REPLACE INTO {REALIZED_TABLE} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            [[row[c] for c in columns] for row in realized],
        )
        con.execute(
            f"""
            INSERT OR REPLACE INTO {TIER_TABLE}
            SELECT $goal, score_date, tier, count(*), count(*) FILTER (WHERE converted),
                   avg(converted::INTEGER), avg(days_to_convert), avg(won::INTEGER)
            FROM _outcomes GROUP BY score_date, tier
            """,
            {"goal": goal.name},
        )
        con.execute(
            f"""
            INSERT OR REPLACE INTO {EXPLORATION_TABLE}
            SELECT $goal, score_date, count(*) FILTER (WHERE exploration),
                   count(*) FILTER (WHERE exploration AND converted),
                   count(*) FILTER (WHERE exploration AND worked),
                   count(*) FILTER (WHERE NOT exploration AND tier = $lowest),
                   count(*) FILTER (WHERE NOT exploration AND tier = $lowest AND converted),
                   count(*) FILTER (WHERE NOT exploration AND tier = $lowest AND worked)
            FROM _outcomes GROUP BY score_date HAVING count(*) FILTER (WHERE exploration) > 0
            """,
            {"goal": goal.name, "lowest": str(TIERS[LOWEST_TIER])},
        )
    _write_segment_calibration(con, goal, matured)
    con.execute("DROP TABLE IF EXISTS _outcomes")
    return pending


def _write_segment_calibration(
    con: duckdb.DuckDBPyConnection, goal: Goal, matured: list[datetime.date]
) -> None:
    last = matured[-1]
    recent = [day for day in matured if day > last - datetime.timedelta(days=SEGMENT_DAYS)]
    create_outcomes(con, goal, recent)
    account = "o.key" if goal.entity == "account" else "p.account_key"
    persons = "LEFT JOIN staging.stg_persons AS p ON p.person_key = o.key" if goal.entity == "person" else ""
    with transaction(con):
        con.execute(f"DELETE FROM {SEGMENT_TABLE} WHERE goal = ? AND as_of_date = ?", [goal.name, last])
        con.execute(
            f"""
            INSERT INTO {SEGMENT_TABLE}
            WITH segmented AS (
                SELECT o.*, coalesce(a.industry, 'unknown') AS industry,
                       coalesce(a.country, 'unknown') AS country,
                       CASE WHEN a.number_of_employees IS NULL THEN 'unknown'
                            WHEN a.number_of_employees < 50 THEN '1-49'
                            WHEN a.number_of_employees < 250 THEN '50-249'
                            WHEN a.number_of_employees < 1000 THEN '250-999'
                            WHEN a.number_of_employees < 5000 THEN '1,000-4,999'
                            ELSE '5,000+' END AS company_size
                FROM _outcomes AS o {persons}
                LEFT JOIN staging.stg_accounts AS a ON a.account_key = {account}
            ),
            long AS (
                UNPIVOT segmented ON industry, country, company_size INTO NAME dimension VALUE segment
            )
            SELECT $goal, $last, dimension, segment, count(*), count(*) FILTER (WHERE converted), avg(score),
                   avg(probability), avg(converted::INTEGER),
                   avg(converted::INTEGER) / nullif(avg(probability), 0),
                   count(*) FILTER (WHERE converted) >= {MIN_SEGMENT_CONVERSIONS}
                       AND avg(converted::INTEGER) >= {UNDER_SCORED_RATIO} * avg(probability)
            FROM long GROUP BY dimension, segment
            """,
            {"goal": goal.name, "last": last},
        )


def tier_separation(
    con: duckdb.DuckDBPyConnection, goal: str
) -> tuple[list[tuple[str, int, float]], str | None]:
    """Per tier (in name order, A first), records and realized conversion rate pooled over the
    matured score dates of the last 90 days; and a recommendation when a tier converts no
    better than the next one down."""
    rows = con.execute(
        f"""
        SELECT tier, sum(scored)::BIGINT, sum(conversions) / sum(scored)
        FROM {TIER_TABLE}
        WHERE goal = $goal
          AND score_date > (SELECT max(score_date) FROM {TIER_TABLE} WHERE goal = $goal) - {SEGMENT_DAYS}
        GROUP BY tier ORDER BY tier
        """,
        {"goal": goal},
    ).fetchall()
    overlapping = [
        f"{upper[0]} ({upper[2]:.2%}) vs {lower[0]} ({lower[2]:.2%})"
        for upper, lower in zip(rows, rows[1:], strict=False)
        if upper[2] <= lower[2]
    ]
    advice = (
        f"tiers no longer separate: {'; '.join(overlapping)} realized conversion over the last "
        f"{SEGMENT_DAYS} days; recalibrate the tier cut-offs (goals.yaml scoring.tiers) or retrain"
        if overlapping
        else None
    )
    return rows, advice


def exploration_summary(con: duckdb.DuckDBPyConnection, goal: str) -> dict[str, float | int] | None:
    """The exploration slice against the rest of tier C, pooled over the matured score dates of
    the last 90 days (None before any matured date with a slice)."""
    row = fetch_single_row(
        con,
        f"""
        SELECT count(*), sum(slice_records), sum(slice_conversions), sum(slice_worked),
               sum(rest_of_tier_c_records), sum(rest_of_tier_c_conversions), sum(rest_of_tier_c_worked)
        FROM {EXPLORATION_TABLE}
        WHERE goal = $goal
          AND score_date > (SELECT max(score_date) FROM {EXPLORATION_TABLE} WHERE goal = $goal)
                           - {SEGMENT_DAYS}
        """,
        {"goal": goal},
    )
    dates, records, conversions, worked, rest, rest_conversions, rest_worked = row
    if not dates:
        return None

    def share(part: object, whole: object) -> float:
        return float(part) / float(whole) if part is not None and whole else float("nan")

    return {
        "score_dates": int(dates),
        "slice_records_per_date": round(float(records) / dates, 1),
        "slice_conversion_rate": share(conversions, records),
        "rest_of_tier_c_conversion_rate": share(rest_conversions, rest),
        "slice_worked_share": share(worked, records),
        "rest_of_tier_c_worked_share": share(rest_worked, rest),
    }


def recent_realized_auc(
    con: duckdb.DuckDBPyConnection, goal: str, model_version: int, dates: int = RECENT_DATES
) -> float | None:
    """The mean realized ROC-AUC of the latest matured score dates (up to `dates`) scored by this
    model version alone; one day alone is too noisy to retrain on."""
    value = fetch_single_row(
        con,
        f"SELECT avg(roc_auc) FROM (SELECT roc_auc FROM {REALIZED_TABLE} WHERE goal = ? "
        "AND model_versions = [?::INTEGER] AND roc_auc IS NOT NULL ORDER BY score_date DESC LIMIT ?)",
        [goal, model_version, dates],
    )[0]
    return None if value is None else float(value)
