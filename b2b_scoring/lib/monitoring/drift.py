"""Drift of a goal's scores and top features against the champion's training window.

Reference: a stable sample of the weekly feature snapshots of the last 13 weeks of the window the
champion was trained on (ml.model_registry data_end), scored with the champion: the most recent
population the model saw (earlier snapshots differ from today by construction: younger
profiles, shorter histories). Current: the day's scoring population,
scored with the same model. Population stability index (PSI) per subject:
sum over bins of (current share - reference share) * ln(current share / reference share), with
bins at the reference deciles for numbers, one per category (and one for missing) otherwise, and
shares floored at 0.0001 so an empty bin counts without dividing by zero.
Levels: ok below 0.1, warn from 0.1, error from 0.25 (the usual reading of PSI).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from b2b_scoring.lib.goals import Goal
from b2b_scoring.lib.ml.training import TrainedModel
from b2b_scoring.lib.ml.training_sets import FEATURE_HISTORY, KEY_COLUMN, excludes_converted
from b2b_scoring.lib.sql import count_rows, fetch_single_row, table_exists, transaction

DRIFT_TABLE = "monitoring.drift"
ACKNOWLEDGEMENTS_TABLE = "monitoring.drift_acknowledgements"
WARN_PSI, ERROR_PSI = 0.1, 0.25
SHARE_FLOOR = 1e-4
DECILE_BINS = 10
REFERENCE_ROWS = 50_000
REFERENCE_DAYS = 91
TOP_FEATURES = 10
SCORE_SUBJECT = "score"


def level(psi: float) -> str:
    return "error" if psi >= ERROR_PSI else "warn" if psi >= WARN_PSI else "ok"


def _binning(reference: np.ndarray, current: np.ndarray, categorical: bool) -> tuple[Callable, int]:
    """(function from known values to bin numbers, number of bins) for a PSI."""
    known = reference[~np.isnan(reference)]
    if categorical:
        values = np.unique(np.concatenate([known, current[~np.isnan(current)]]))
        return lambda x: np.searchsorted(values, x), len(values)
    # Deciles of the reference on the scale of its distribution function, interpolated between
    # its distinct values: a count seen only on Mondays (weekly snapshots) and on every weekday
    # (today) then falls in matching bins instead of drifting by construction.
    points, counts = np.unique(known, return_counts=True) if known.size else (np.zeros(1), np.ones(1))
    mid_ranks = (np.cumsum(counts) - counts / 2) / counts.sum()
    return (
        lambda x: np.minimum((np.interp(x, points, mid_ranks) * DECILE_BINS).astype(int), DECILE_BINS - 1),
        DECILE_BINS,
    )


def population_stability_index(
    reference: np.ndarray, current: np.ndarray, categorical: bool = False
) -> float:
    """PSI of `current` against `reference` (NaN = missing, a bin of its own)."""
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    bin_of, bins = _binning(reference, current, categorical)
    shares = [
        np.maximum(
            np.bincount(np.where(np.isnan(values), bins, bin_of(np.nan_to_num(values))), minlength=bins + 1)
            / max(len(values), 1),
            SHARE_FLOOR,
        )
        for values in (reference, current)
    ]
    return float(np.sum((shares[1] - shares[0]) * np.log(shares[1] / shares[0])))


@dataclass(frozen=True)
class DriftRow:
    subject: str
    kind: str  # score | feature
    importance_rank: int | None
    psi: float

    @property
    def level(self) -> str:
        return level(self.psi)


def drift_rows(
    trained: TrainedModel, reference: pa.Table, current: pa.Table, top: int = TOP_FEATURES
) -> list[DriftRow]:
    """PSI of the model's probability and of its `top` most important features (gain on the
    reference sample), current against reference."""
    encoder = trained.encoder
    reference_matrix, current_matrix = encoder.matrix(reference), encoder.matrix(current)
    rows = [
        DriftRow(
            SCORE_SUBJECT,
            "score",
            None,
            population_stability_index(
                trained.probability_of_matrix(reference_matrix), trained.probability_of_matrix(current_matrix)
            ),
        )
    ]
    gain, _ = trained.model.importance(reference_matrix)
    categorical = set(encoder.categorical_indices)
    for rank, index in enumerate(np.argsort(-np.asarray(gain), kind="stable")[:top], start=1):
        rows.append(
            DriftRow(
                encoder.names[index],
                "feature",
                rank,
                population_stability_index(
                    reference_matrix[:, index], current_matrix[:, index], categorical=index in categorical
                ),
            )
        )
    return rows


def reference_window(
    con: duckdb.DuckDBPyConnection, goal: str, version: int
) -> tuple[datetime.date, datetime.date]:
    """The last REFERENCE_DAYS of the model version's training window (first and last day)."""
    start, end = fetch_single_row(
        con,
        "SELECT data_start, data_end FROM ml.model_registry WHERE goal = ? AND version = ?",
        [goal, version],
    )
    return max(start, end - datetime.timedelta(days=REFERENCE_DAYS - 1)), end


def reference_sample(
    con: duckdb.DuckDBPyConnection,
    goal: Goal,
    window: tuple[datetime.date, datetime.date],
    rows: int = REFERENCE_ROWS,
) -> pa.Table:
    """A stable sample (by key hash) of the weekly feature snapshots in the window,
    without persons already converted when the goal excludes them (as its training set)."""
    converted = "AND NOT has_converted" if excludes_converted(goal) else ""
    table = FEATURE_HISTORY[goal.entity]
    total = count_rows(
        con, f"SELECT count(*) FROM {table} WHERE as_of_date BETWEEN ? AND ? {converted}", list(window)
    )
    share = min(1.0, rows / max(total, 1))
    return con.sql(
        f"SELECT * FROM {table} WHERE as_of_date BETWEEN $start AND $end {converted} "
        f"AND hash({KEY_COLUMN[goal.entity]}, as_of_date) % 1000000 < $threshold",
        params={"start": window[0], "end": window[1], "threshold": round(share * 1_000_000)},
    ).to_arrow_table()


def acknowledged(con: duckdb.DuckDBPyConnection, goal: str, version: int) -> dict[str, object] | None:
    """The latest acknowledgement of the drift of this model version, if any."""
    if not table_exists(con, ACKNOWLEDGEMENTS_TABLE):
        return None
    rows = con.execute(
        f"SELECT acknowledged_by, acknowledged_at, note FROM {ACKNOWLEDGEMENTS_TABLE} "
        "WHERE goal = ? AND model_version = ? ORDER BY acknowledged_at DESC LIMIT 1",
        [goal, version],
    ).fetchall()
    return {"by": rows[0][0], "at": rows[0][1], "note": rows[0][2]} if rows else None


def acknowledge(con: duckdb.DuckDBPyConnection, goal: str, version: int, by: str, note: str) -> None:
    """Record that a person has looked at the drift of this model version: the CRM export runs
    again until the model is retrained (a new version is checked afresh)."""
    _ensure_tables(con)
    con.execute(
        f"INSERT INTO {ACKNOWLEDGEMENTS_TABLE} VALUES (?, ?, ?, now()::TIMESTAMP, ?)",
        [goal, version, by, note],
    )


def _ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS monitoring")
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {DRIFT_TABLE} (
            goal VARCHAR NOT NULL, score_date DATE NOT NULL, model_version INTEGER NOT NULL,
            subject VARCHAR NOT NULL, kind VARCHAR NOT NULL, importance_rank INTEGER, psi DOUBLE NOT NULL,
            level VARCHAR NOT NULL, reference_rows BIGINT NOT NULL, current_rows BIGINT NOT NULL,
            reference_start DATE NOT NULL, reference_end DATE NOT NULL,
            PRIMARY KEY (goal, score_date, subject)
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {ACKNOWLEDGEMENTS_TABLE} (
            goal VARCHAR NOT NULL, model_version INTEGER NOT NULL, acknowledged_by VARCHAR NOT NULL,
            acknowledged_at TIMESTAMP NOT NULL, note VARCHAR
        )
        """
    )


def write_drift(
    con: duckdb.DuckDBPyConnection,
    goal: str,
    score_date: datetime.date,
    version: int,
    window: tuple[datetime.date, datetime.date],
    rows: list[DriftRow],
    counts: tuple[int, int],
) -> None:
    """Replace the goal's drift rows of score_date."""
    _ensure_tables(con)
    con.register(
        "_drift",
        pa.table(
            {
                "subject": [r.subject for r in rows],
                "kind": [r.kind for r in rows],
                "importance_rank": pa.array([r.importance_rank for r in rows], pa.int32()),
                "psi": [round(r.psi, 6) for r in rows],
                "level": [r.level for r in rows],
            }
        ),
    )
    try:
        with transaction(con):
            con.execute(f"DELETE FROM {DRIFT_TABLE} WHERE goal = ? AND score_date = ?", [goal, score_date])
            con.execute(
                f"""
                INSERT INTO {DRIFT_TABLE} BY NAME
                SELECT *, $goal AS goal, $day AS score_date, $version AS model_version,
                       $reference_rows AS reference_rows, $current_rows AS current_rows,
                       $start AS reference_start, $end AS reference_end
                FROM _drift
                """,
                {
                    "goal": goal,
                    "day": score_date,
                    "version": version,
                    "reference_rows": counts[0],
                    "current_rows": counts[1],
                    "start": window[0],
                    "end": window[1],
                },
            )
    finally:
        con.unregister("_drift")
