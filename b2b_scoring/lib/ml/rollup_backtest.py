"""Backtest of account scores rolled up from person scores, on the account goal's own folds.

For each walk-forward fold of the account goal (cut-off c, its test as-of dates), a person model
of the person goal is fitted on person snapshots at least one person prediction window before c
(so no person label looks into the test period), it scores the persons of the test dates, and
their probabilities roll up per account (max, noisy-OR, top-3 mean; `scoring.rollups`). The
rolled-up scores are evaluated against the account labels of the same test rows as the account
model, so the comparison is like for like.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from b2b_scoring.lib.goals import Goal
from b2b_scoring.lib.ml.backtest import BacktestReport, CandidateResult
from b2b_scoring.lib.ml.goal_training import feature_columns, key_share_for
from b2b_scoring.lib.ml.metrics import bootstrap_intervals, calibration_table, evaluate, gains_table
from b2b_scoring.lib.ml.models import Calibrator, FeatureEncoder
from b2b_scoring.lib.ml.training import TrainedModel, fit_model
from b2b_scoring.lib.ml.training_sets import (
    FEATURE_HISTORY,
    KEY_COLUMN,
    Sampling,
    data_span,
    excludes_converted,
    label_summary,
    training_set,
)
from b2b_scoring.lib.scoring.rollups import ROLLUPS, rollup_persons, rollups_for

MAX_PERSON_ROWS = 300_000
ROLLUP_PREFIX = "rollup_"


def rollup_backtest(
    con: duckdb.DuckDBPyConnection,
    person_goal: Goal,
    account_table: pa.Table,
    report: BacktestReport,
    seed: int = 0,
) -> dict[str, CandidateResult]:
    """Candidates `rollup_max`, `rollup_noisy_or`, `rollup_top3_mean` over the report's test rows."""
    span = data_span(con, person_goal)
    rows = label_summary(con, person_goal, span).rows
    persons = training_set(con, person_goal, span, Sampling.of_keys(key_share_for(rows, MAX_PERSON_ROWS)))
    person_label = persons["label"].to_numpy().astype(np.int8)
    person_dates = persons["as_of_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    groups = persons[KEY_COLUMN["person"]].to_numpy(zero_copy_only=False)
    encoder = FeatureEncoder.fit(persons, feature_columns(persons, person_goal))
    matrix = encoder.matrix(persons)

    test = account_table.take(pa.array(report.test_rows))
    test_dates = test["as_of_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    cutoffs = [np.datetime64(fold["cutoff"], "D") for fold in report.folds]
    scores = {name: np.zeros(len(report.test_rows)) for name in ROLLUPS}
    window = np.timedelta64(person_goal.prediction_window_days, "D")
    converted = "and not has_converted" if excludes_converted(person_goal) else ""
    fold_rows = [
        (test_dates >= cutoff)
        & (test_dates < (cutoffs[i + 1] if i + 1 < len(cutoffs) else np.datetime64("9999-12-31")))
        for i, cutoff in enumerate(cutoffs)
    ]
    for cutoff, in_fold in zip(cutoffs, fold_rows, strict=True):
        train = person_dates <= cutoff - window
        if person_label[train].sum() < 3 or person_label[train].min() == person_label[train].max():
            continue  # too few person conversions before this cut-off: the roll-ups stay 0
        model = fit_model(
            person_goal.algorithm, matrix[train], person_label[train], groups[train], encoder, seed=seed
        )
        for day in np.unique(test_dates[in_fold]):
            snapshot = con.sql(
                f"select * from {FEATURE_HISTORY['person']} where as_of_date = $day {converted}",
                params={"day": day.astype(object)},
            ).to_arrow_table()
            rolled = rollup_persons(snapshot["account_key"], model.probability(snapshot))
            rows_of_day = np.flatnonzero(in_fold & (test_dates == day))
            values = rollups_for(test["account_key"].take(pa.array(rows_of_day)), rolled)
            for name in ROLLUPS:
                scores[name][rows_of_day] = values[name]
    return {
        f"{ROLLUP_PREFIX}{name}": _candidate(f"{ROLLUP_PREFIX}{name}", scores[name], report, fold_rows, seed)
        for name in ROLLUPS
    }


def _candidate(
    name: str, score: np.ndarray, report: BacktestReport, fold_rows: list[np.ndarray], seed: int
) -> CandidateResult:
    label = report.label
    return CandidateResult(
        name=name,
        probability=score,
        metrics=evaluate(score, label),
        intervals=bootstrap_intervals(score, label, seed=seed),
        fold_metrics=[evaluate(score[rows], label[rows]) for rows in fold_rows],
        calibration=calibration_table(score, label),
        gains=gains_table(score, label),
        calibration_method="none (roll-up)",
    )


def adopt_best_source(trained: TrainedModel, report: BacktestReport, algorithm: str, person_goal: str) -> str:
    """Compare the account model with the roll-ups in `report` by backtest ROC-AUC; when a roll-up
    wins, the trained model scores accounts with it (calibrated on its backtest scores). Returns
    the winner's name."""
    contenders = [algorithm, *(name for name in report.candidates if name.startswith(ROLLUP_PREFIX))]
    best = max(contenders, key=lambda name: report.candidates[name].metrics["roc_auc"])
    if best != algorithm:
        trained.rollup_source = best.removeprefix(ROLLUP_PREFIX)
        trained.rollup_person_goal = person_goal
        trained.rollup_calibrator = Calibrator.fit(report.candidates[best].probability, report.label)
    return best
