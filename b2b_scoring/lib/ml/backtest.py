"""Backtests: the model, logistic regression and the rules baseline evaluated side by side on the
same held-out rows.

Over time (`walk_forward_folds`): each fold trains on snapshots whose prediction window ended
before the fold's cut-off (a gap of one window, so no training label looks into the test period)
and tests on the snapshots of the next period. Without timestamps (a flat export),
`stratified_folds` is a stratified K-fold. The class-imbalance option is not assumed: with
`class_weighting="auto"` both settings are fitted on the latest fold and the better PR-AUC wins.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from b2b_scoring.lib.goals import PointsRule
from b2b_scoring.lib.ml.metrics import (
    CalibrationRow,
    GainsRow,
    bootstrap_intervals,
    calibration_table,
    evaluate,
    gains_table,
    pr_auc,
)
from b2b_scoring.lib.ml.models import CLASS_WEIGHTINGS, FeatureEncoder
from b2b_scoring.lib.ml.training import BASELINE, TrainedModel, fit_model

LOGISTIC = "logistic_regression"


@dataclass(frozen=True)
class Fold:
    name: str
    train: np.ndarray
    test: np.ndarray
    cutoff: datetime.date | None = None


MIN_FOLD_POSITIVES = 3
WALK_FORWARD_FOLDS = 3
TEST_DATES_PER_FOLD = 4
BACKTEST_DATES = WALK_FORWARD_FOLDS * TEST_DATES_PER_FOLD  # the latest as-of dates, tested on


def walk_forward_folds(
    as_of_dates: np.ndarray,
    label: np.ndarray,
    window_days: int,
    folds: int = WALK_FORWARD_FOLDS,
    test_dates: int = TEST_DATES_PER_FOLD,
    min_train_dates: int = 4,
    training_rows: np.ndarray | None = None,
    evaluation_rows: np.ndarray | None = None,
) -> list[Fold]:
    """Up to `folds` folds over the distinct as-of dates, the latest last: fold i tests on a
    block of `test_dates` dates and trains on the dates at least `window_days` before the block,
    only on `training_rows` and only tests `evaluation_rows` (masks; default every row). A fold
    with fewer than MIN_FOLD_POSITIVES positives on either side is left out."""
    dates = np.asarray(as_of_dates).astype("datetime64[D]")
    trainable = np.ones(len(dates), bool) if training_rows is None else training_rows
    evaluable = np.ones(len(dates), bool) if evaluation_rows is None else evaluation_rows
    distinct = np.unique(dates)
    result = []
    for back in range(folds, 0, -1):
        end = len(distinct) - (back - 1) * test_dates
        start = end - test_dates
        if start < 1:
            continue
        cutoff = distinct[start]
        train = trainable & (dates <= cutoff - np.timedelta64(window_days, "D"))
        if len(np.unique(dates[train])) < min_train_dates:
            continue
        test = evaluable & (dates >= cutoff) & (dates <= distinct[end - 1])
        if min(label[train].sum(), label[test].sum()) < MIN_FOLD_POSITIVES:
            continue
        result.append(Fold(f"fold {len(result) + 1}", train, test, cutoff.astype(datetime.date)))
    if not result:
        raise ValueError(
            f"{len(distinct)} as-of dates are too few for a walk-forward backtest with a {window_days}-day "
            f"gap: at least {min_train_dates} training dates before the {test_dates} test dates, and "
            f"{MIN_FOLD_POSITIVES} positives on each side, are needed"
        )
    return result


def stratified_folds(label: np.ndarray, folds: int = 5, seed: int = 0) -> list[Fold]:
    """K folds with the same share of positives each (rows shuffled within each class)."""
    label = np.asarray(label)
    assignment = np.empty(len(label), dtype=int)
    rng = np.random.default_rng(seed)
    for value in (0, 1):
        rows = np.flatnonzero(label == value)
        assignment[rng.permutation(rows)] = np.arange(len(rows)) % folds
    return [Fold(f"fold {k + 1}", assignment != k, assignment == k) for k in range(folds)]


@dataclass
class CandidateResult:
    """One model's out-of-fold probabilities (pooled over the folds) and what they are worth."""

    name: str
    probability: np.ndarray
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    fold_metrics: list[dict[str, float]]
    calibration: list[CalibrationRow]
    gains: list[GainsRow]
    calibration_method: str


@dataclass
class BacktestReport:
    folds: list[dict[str, object]]
    test_rows: np.ndarray
    label: np.ndarray
    candidates: dict[str, CandidateResult]
    class_weighting: str
    class_weighting_pr_auc: dict[str, float] = field(default_factory=dict)

    @property
    def model(self) -> CandidateResult:
        return next(iter(self.candidates.values()))


def run_backtest(
    matrix: np.ndarray,
    label: np.ndarray,
    groups: np.ndarray,
    encoder: FeatureEncoder,
    folds: Sequence[Fold],
    algorithm: str,
    class_weighting: str = "auto",
    rules: Sequence[PointsRule] = (),
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
) -> BacktestReport:
    """Fit the goal's algorithm, logistic regression and the rules baseline on each fold's
    training rows (calibrated with their `sample_weight`) and score its test rows; metrics are
    over all folds' test rows together."""
    label = np.asarray(label).astype(np.int8)

    def fit_fold(name: str, fold: Fold, weighting: str) -> TrainedModel:
        rows = fold.train
        weight = None if sample_weight is None else sample_weight[rows]
        return fit_model(
            name, matrix[rows], label[rows], groups[rows], encoder, weighting, rules, seed, weight
        )

    latest = folds[-1]
    # The model of the latest fold with the chosen weighting, when the comparison already fitted it.
    fitted_latest: dict[str, TrainedModel] = {}
    comparison: dict[str, float] = {}
    if class_weighting == "auto":
        fitted_latest = {w: fit_fold(algorithm, latest, w) for w in CLASS_WEIGHTINGS}
        comparison = {
            w: pr_auc(trained.probability_of_matrix(matrix[latest.test]), label[latest.test])
            for w, trained in fitted_latest.items()
        }
        class_weighting = max(CLASS_WEIGHTINGS, key=lambda w: (comparison[w], w == "none"))
    candidates = [algorithm] + ([LOGISTIC] if algorithm != LOGISTIC else []) + ([BASELINE] if rules else [])
    test_rows = np.concatenate([np.flatnonzero(fold.test) for fold in folds])
    pooled_label = label[test_rows]
    results = {}
    for name in candidates:
        pieces, fold_metrics, methods = [], [], set()
        for fold in folds:
            if name == algorithm and fold is latest and class_weighting in fitted_latest:
                trained = fitted_latest[class_weighting]
            else:
                trained = fit_fold(name, fold, class_weighting if name != BASELINE else "none")
            probability = trained.probability_of_matrix(matrix[fold.test])
            pieces.append(probability)
            fold_metrics.append(evaluate(probability, label[fold.test]))
            methods.add(trained.calibrator.method)
        probability = np.concatenate(pieces)
        results[name] = CandidateResult(
            name=name,
            probability=probability,
            metrics=evaluate(probability, pooled_label),
            intervals=bootstrap_intervals(probability, pooled_label, seed=seed),
            fold_metrics=fold_metrics,
            calibration=calibration_table(probability, pooled_label),
            gains=gains_table(probability, pooled_label),
            calibration_method="/".join(sorted(methods)),
        )
    folds_summary = [
        {
            "fold": fold.name,
            "cutoff": str(fold.cutoff) if fold.cutoff else None,
            "train_rows": int(fold.train.sum()),
            "test_rows": int(fold.test.sum()),
            "test_positives": int(label[fold.test].sum()),
        }
        for fold in folds
    ]
    return BacktestReport(folds_summary, test_rows, pooled_label, results, class_weighting, comparison)
