"""Champion against challenger on realized outcomes.

The challenger scores the same records as the champion every day, in shadow
(`scores.shadow_scores`). Once a score date's prediction window has passed, both are evaluated on
the records scored by both, with the same labels as the realized performance
(`monitoring.challenger_performance`: ROC-AUC, Brier score and lift in the top 10% of each). The
verdict pools the matured dates of the current champion/challenger pair after both training
windows (a model is not judged on outcomes it learnt from): the challenger is promoted only when
its ROC-AUC beats the champion's by the goal's `min_auc_gain` on average over at least
`min_matured_dates` dates, and on at least two thirds of them; with that many dates and no win,
it is retired, so the next model that loses its backtest takes its place.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import duckdb
import numpy as np

from b2b_scoring.lib.goals import ChallengerPolicy, Goal
from b2b_scoring.lib.ml.metrics import evaluate
from b2b_scoring.lib.ml.registry import REGISTRY_TABLE
from b2b_scoring.lib.monitoring.performance import create_outcomes, matured_score_dates
from b2b_scoring.lib.scoring.store import SHADOW_TABLE
from b2b_scoring.lib.sql import fetch_single_row, table_exists, transaction

COMPARISON_TABLE = "monitoring.challenger_performance"
WIN_SHARE = 2 / 3
_COMPARED = ("roc_auc", "brier", "lift_at_10")


@dataclass(frozen=True)
class ChallengerVerdict:
    promote: bool
    final: bool  # enough matured dates compared: promoted, or retired
    matured_dates: int
    mean_auc_gain: float | None
    wins: int
    reason: str


def challenger_verdict(
    champion_auc: np.ndarray, challenger_auc: np.ndarray, policy: ChallengerPolicy, challenger_version: int
) -> ChallengerVerdict:
    """Whether the challenger's realized ROC-AUC, date by date against the champion's on the same
    records, earns a promotion under the goal's policy; final once enough dates are compared."""
    dates = len(champion_auc)
    gain = float(np.mean(challenger_auc - champion_auc)) if dates else None
    wins = int(np.sum(challenger_auc > champion_auc))
    if dates < policy.min_matured_dates:
        return ChallengerVerdict(
            False,
            False,
            dates,
            gain,
            wins,
            f"challenger v{challenger_version}: {dates} of {policy.min_matured_dates} matured score dates "
            "needed to compare",
        )
    assert gain is not None
    promote = gain >= policy.min_auc_gain and wins >= WIN_SHARE * dates
    return ChallengerVerdict(
        promote,
        True,
        dates,
        gain,
        wins,
        f"realized ROC-AUC of challenger v{challenger_version} {gain:+.4f} vs the champion on the same "
        f"records (mean of {dates} matured score dates, better on {wins}; needs "
        f"{policy.min_auc_gain:+.4f} and {WIN_SHARE:.0%} of the dates): "
        + ("promoted" if promote else "retired"),
    )


def _create_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
    metrics = ", ".join(f"{role}_{name} DOUBLE" for role in ("champion", "challenger") for name in _COMPARED)
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {COMPARISON_TABLE} (
            goal VARCHAR NOT NULL, score_date DATE NOT NULL, champion_version INTEGER NOT NULL,
            challenger_version INTEGER NOT NULL, scored BIGINT NOT NULL, conversions BIGINT NOT NULL,
            {metrics}, PRIMARY KEY (goal, score_date, challenger_version)
        )
        """
    )


def write_challenger_performance(con: duckdb.DuckDBPyConnection, goal: Goal) -> list[datetime.date]:
    """Compare champion and challenger on every matured score date with shadow scores not compared
    yet; returns the dates compared now."""
    _create_table(con)
    if not table_exists(con, SHADOW_TABLE):
        return []
    matured = matured_score_dates(con, goal)
    pending = [
        row[0]
        for row in con.execute(
            f"""
            SELECT DISTINCT s.score_date FROM {SHADOW_TABLE} AS s
            WHERE s.goal = $goal AND list_contains($matured, s.score_date)
              AND NOT EXISTS (SELECT 1 FROM {COMPARISON_TABLE} AS c WHERE c.goal = s.goal
                              AND c.score_date = s.score_date AND c.challenger_version = s.model_version)
            ORDER BY 1
            """,
            {"goal": goal.name, "matured": matured},
        ).fetchall()
    ]
    if not pending:
        return []
    create_outcomes(con, goal, pending)
    compared = []
    for day in pending:
        champion_version, challenger_version, champion_p, challenger_p, label = fetch_single_row(
            con,
            f"""
            SELECT min(o.model_version), min(s.model_version), list(o.probability ORDER BY o.key),
                   list(s.probability ORDER BY o.key), list(o.converted::INTEGER ORDER BY o.key)
            FROM _outcomes AS o
            JOIN {SHADOW_TABLE} AS s ON s.goal = ? AND s.score_date = o.score_date AND s.record_key = o.key
            WHERE o.score_date = ?
            """,
            [goal.name, day],
        )
        if challenger_version is None:  # no record scored by both
            continue
        label = np.asarray(label, dtype=np.int8)
        # A date where everyone (or no one) converted has no ROC-AUC: kept with empty metrics.
        both_classes = 0 < label.sum() < len(label)
        results = {
            role: evaluate(np.asarray(probability, dtype=float), label) if both_classes else {}
            for role, probability in (("champion", champion_p), ("challenger", challenger_p))
        }
        compared.append(
            [goal.name, day, champion_version, challenger_version, len(label), int(label.sum())]
            + [results[role].get(name) for role in ("champion", "challenger") for name in _COMPARED]
        )
    con.execute("DROP TABLE IF EXISTS _outcomes")
    if compared:
        with transaction(con):
            con.executemany(
                f"INSERT OR REPLACE INTO {COMPARISON_TABLE} VALUES ({', '.join('?' * len(compared[0]))})",
                compared,
            )
    return [row[1] for row in compared]


def pair_comparison(
    con: duckdb.DuckDBPyConnection,
    goal: Goal,
    champion_version: int,
    challenger_version: int,
) -> list[tuple]:
    """The compared score dates of this champion/challenger pair whose outcomes neither model
    learnt from: the labels of a model's last training snapshot count conversions up to a
    prediction window after it, so a score date counts from that window's end on. Rows are
    (score_date, scored, conversions, champion ROC-AUC, challenger ROC-AUC), oldest first."""
    if not table_exists(con, COMPARISON_TABLE):
        return []
    return con.execute(
        f"""
        SELECT score_date, scored, conversions, champion_roc_auc, challenger_roc_auc
        FROM {COMPARISON_TABLE}
        WHERE goal = $goal AND champion_version = $champion AND challenger_version = $challenger
          AND champion_roc_auc IS NOT NULL AND challenger_roc_auc IS NOT NULL
          AND score_date >= (SELECT max(data_end) FROM {REGISTRY_TABLE}
                             WHERE goal = $goal AND version IN ($champion, $challenger))
                            + $window::INTEGER
        ORDER BY score_date
        """,
        {
            "goal": goal.name,
            "champion": champion_version,
            "challenger": challenger_version,
            "window": goal.prediction_window_days,
        },
    ).fetchall()
