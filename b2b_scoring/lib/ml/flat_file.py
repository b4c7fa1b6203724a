"""Backtest of a flat CRM export (one row per lead, an outcome column, no timestamps): the same
models, calibration, metrics and leakage check as the pipeline, with a stratified K-fold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from b2b_scoring.lib.goals import PointsRule
from b2b_scoring.lib.ml.backtest import run_backtest, stratified_folds
from b2b_scoring.lib.ml.leakage import leakage_suspects
from b2b_scoring.lib.ml.models import FeatureEncoder

DEFAULT_MISSING_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
POSITIVE_OUTCOMES = ("1", "true", "yes", "y", "converted", "won", "closed won")
NEGATIVE_OUTCOMES = ("0", "false", "no", "n", "not converted", "lost", "closed lost")


class FlatFileError(ValueError):
    """The flat export cannot be backtested as asked; the message names the file and column."""


def read_flat_file(path: Path, sep: str | None = None, missing_values: Sequence[str] = ()) -> pa.Table:
    """The CSV as DuckDB sniffs it (delimiter, quoting, header and types), every listed missing
    marker read as null."""
    if not path.is_file():
        raise FlatFileError(f"{path}: no such file")
    options: dict[str, Any] = {"na_values": [*DEFAULT_MISSING_VALUES, *missing_values], "header": True}
    if sep is not None:
        options["delimiter"] = sep
    with duckdb.connect() as con:
        try:
            return con.read_csv(str(path), **options).to_arrow_table()
        except duckdb.Error as error:
            raise FlatFileError(f"{path}: cannot be read as CSV: {error}") from error


def outcome_labels(table: pa.Table, outcome: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(label 0/1, rows that have an outcome) from a 0/1, boolean or yes/no style column."""
    if outcome not in table.column_names:
        raise FlatFileError(f"{path}: no outcome column {outcome!r}; columns are {table.column_names}")
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(table[outcome], pa.string())))
    positive = pc.is_in(text, value_set=pa.array(POSITIVE_OUTCOMES))
    negative = pc.is_in(text, value_set=pa.array(NEGATIVE_OUTCOMES))
    known = pc.or_(positive, negative).to_numpy(zero_copy_only=False)
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    unknown = present & ~known
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        values = sorted(pc.unique(pc.filter(text, pa.array(unknown))).to_pylist())[:5]
        raise FlatFileError(
            f"{path}: column {outcome!r}, data row {row + 1}: outcome {values[0]!r} is not a yes/no "
            f"value (unknown values: {values}; expected one of {POSITIVE_OUTCOMES} / {NEGATIVE_OUTCOMES})"
        )
    label = positive.to_numpy(zero_copy_only=False).astype(np.int8)
    if label[present].min(initial=1) == label[present].max(initial=0):
        raise FlatFileError(f"{path}: column {outcome!r} has a single class; both are needed")
    return label, present


def identifier_columns(table: pa.Table) -> list[str]:
    """Columns with a distinct value on every row: identifiers, never features."""
    return [
        name
        for name in table.column_names
        if table.num_rows > 1
        and table[name].null_count == 0
        and pc.count_distinct(table[name]).as_py() == table.num_rows
    ]


def backtest_flat_file(
    path: Path,
    outcome: str,
    id_column: str | None = None,
    post_contact: Sequence[str] = (),
    missing_values: Sequence[str] = (),
    sep: str | None = None,
    algorithm: str = "lightgbm",
    folds: int = 5,
    rules: Sequence[PointsRule] = (),
    seed: int = 0,
) -> dict[str, Any]:
    """Stratified K-fold backtest of `algorithm` (with logistic regression and, when rules are
    given, the points baseline alongside) on a flat export; the result is JSON-ready."""
    table = read_flat_file(path, sep, missing_values)
    for name in [*(x for x in [id_column] if x), *post_contact]:
        if name not in table.column_names:
            raise FlatFileError(f"{path}: no column {name!r}; columns are {table.column_names}")
    label, present = outcome_labels(table, outcome, path)
    table, label = table.filter(pa.array(present)), label[present]
    identifiers = sorted({*identifier_columns(table), *([id_column] if id_column else [])} - {outcome})
    empty = [name for name in table.column_names if table[name].null_count == table.num_rows]
    excluded = {outcome, *identifiers, *empty}
    candidates = [name for name in table.column_names if name not in excluded]
    columns = {name: table[name].to_numpy(zero_copy_only=False) for name in candidates}
    suspects = leakage_suspects(columns, label, known_after_contact=post_contact)
    features = [name for name in candidates if name not in set(post_contact)]
    encoder = FeatureEncoder.fit(table, features)
    matrix = encoder.matrix(table)
    groups = np.arange(table.num_rows)
    report = run_backtest(
        matrix,
        label,
        groups,
        encoder,
        stratified_folds(label, folds, seed),
        algorithm,
        rules=rules,
        seed=seed,
    )

    def summary(metrics: dict[str, float], intervals: dict[str, tuple[float, float]]) -> dict[str, Any]:
        return {
            "auc": round(metrics["roc_auc"], 4),
            "auc_95ci": [round(float(v), 4) for v in intervals.get("roc_auc", (np.nan, np.nan))],
            "pr_auc": round(metrics["pr_auc"], 4),
            "lift_at_10": round(metrics["lift_at_10"], 3),
            "recall_at_10": round(metrics["recall_at_10"], 3),
            "lift_at_20": round(metrics["lift_at_20"], 3),
            "recall_at_20": round(metrics["recall_at_20"], 3),
            "brier": round(metrics["brier"], 4),
            "calibration_error": round(metrics["calibration_error"], 4),
        }

    model = report.model
    return {
        "file": str(path),
        "outcome": outcome,
        "algorithm": algorithm,
        "folds": folds,
        **summary(model.metrics, model.intervals),
        "n": int(table.num_rows),
        "positive_rate": round(float(label.mean()), 4),
        "rows_without_outcome": int((~present).sum()),
        "class_weighting": report.class_weighting,
        "calibration": model.calibration_method,
        "features": len(features),
        "excluded_identifiers": identifiers,
        "excluded_post_contact": list(post_contact),
        "leakage_suspects": [
            {"column": s.column, "reason": s.reason, "blocking": s.blocking}
            | ({"auc": round(s.auc, 4)} if s.auc is not None else {})
            for s in suspects
            if s.column not in set(post_contact)
        ],
        "baselines": {
            name: summary(result.metrics, result.intervals)
            for name, result in report.candidates.items()
            if name != algorithm
        },
    }
