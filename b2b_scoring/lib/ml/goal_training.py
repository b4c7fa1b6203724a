"""Training a goal of the pipeline: its labelled weekly snapshots in, a walk-forward backtest
(model, logistic regression and the points baseline side by side), the final calibrated model
and its feature importance grouped back to business fields out."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from b2b_scoring.lib.goals import Goal
from b2b_scoring.lib.ml.backtest import BacktestReport, Fold, run_backtest, walk_forward_folds
from b2b_scoring.lib.ml.leakage import leakage_suspects
from b2b_scoring.lib.ml.models import FeatureEncoder
from b2b_scoring.lib.ml.training import TrainedModel, fit_model
from b2b_scoring.lib.ml.training_sets import KEY_COLUMN, DataSpan, GateResult, Sampling, training_set

NOT_FEATURES = {
    "person_key",
    "account_key",
    "as_of_date",
    "label",
    "has_converted",
    "sample_weight",
    "in_evaluation",
}
# The sales dispositions feedback, used only by goals that take dispositions as features.
DISPOSITION_FEATURES = (
    "last_disposition",
    "days_since_disposition",
    "dispositions_lifetime",
    "rejections_lifetime",
)
IMPORTANCE_SAMPLE_ROWS = 5_000
LEAKAGE_SAMPLE_ROWS = 300_000
WINDOW_SUFFIX = re.compile(r"_(7d|30d|60d|90d|lifetime)$")


def feature_columns(table: pa.Table, goal: Goal) -> list[str]:
    """Every column of the snapshots except keys, dates, the label, what the goal declares as
    known only after contact and, unless the goal takes them as features, the dispositions."""
    excluded = NOT_FEATURES | set(goal.known_after_contact)
    if goal.feedback.dispositions != "features":
        excluded |= set(DISPOSITION_FEATURES)
    return [name for name in table.column_names if name not in excluded]


def business_field(feature: str) -> str:
    """The field a feature is computed from: `pricing_visits_7d` and `pricing_visits_90d` are both
    `pricing_visits`."""
    return WINDOW_SUFFIX.sub("", feature)


@dataclass(frozen=True)
class FieldImportance:
    field: str
    gain_share: float
    shap_share: float | None
    features: tuple[str, ...]


def grouped_importance(trained: TrainedModel, matrix: np.ndarray, seed: int = 0) -> list[FieldImportance]:
    """Gain and mean |SHAP| per business field, as shares of the model's total, largest first."""
    rng = np.random.default_rng(seed)
    sample = matrix[rng.choice(len(matrix), min(len(matrix), IMPORTANCE_SAMPLE_ROWS), replace=False)]
    gain, shap = trained.model.importance(sample)
    names = trained.encoder.names
    fields: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        fields.setdefault(business_field(name), []).append(i)

    def share(values: np.ndarray, members: list[int]) -> float:
        total = values.sum()
        return float(values[members].sum() / total) if total > 0 else 0.0

    rows = [
        FieldImportance(
            field,
            share(gain, members),
            share(shap, members) if shap is not None else None,
            tuple(names[i] for i in members),
        )
        for field, members in fields.items()
    ]
    return sorted(rows, key=lambda row: -(row.shap_share if row.shap_share is not None else row.gain_share))


@dataclass
class GoalTraining:
    goal: Goal
    trained: TrainedModel
    backtest: BacktestReport
    importance: list[FieldImportance]
    training_rows: int
    first_as_of_date: str
    last_as_of_date: str


def goal_folds(table: pa.Table, goal: Goal) -> list[Fold]:
    """Walk-forward folds over a `training_set` table: train on its weighted rows, test on its
    evaluation rows."""
    return walk_forward_folds(
        table["as_of_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]"),
        table["label"].to_numpy(),
        goal.prediction_window_days,
        training_rows=table["sample_weight"].to_numpy() > 0,
        evaluation_rows=table["in_evaluation"].to_numpy(zero_copy_only=False),
    )


def train_goal(table: pa.Table, goal: Goal, seed: int = 0) -> GoalTraining:
    """Backtest the goal walk-forward, then fit the final model on every training row of `table`
    (from `training_set`: rows with a sample weight train, rows in evaluation are tested on)."""
    label = table["label"].to_numpy().astype(np.int8)
    dates = table["as_of_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    groups = table[KEY_COLUMN[goal.entity]].to_numpy(zero_copy_only=False)
    weight = table["sample_weight"].to_numpy()
    training_rows = weight > 0
    encoder = FeatureEncoder.fit(table, feature_columns(table, goal))
    matrix = encoder.matrix(table)
    folds = goal_folds(table, goal)
    report = run_backtest(
        matrix,
        label,
        groups,
        encoder,
        folds,
        goal.algorithm,
        goal.class_weighting,
        goal.baseline_points,
        seed,
        weight,
    )
    if not training_rows.all():
        matrix, label, groups, weight, dates = (
            values[training_rows] for values in (matrix, label, groups, weight, dates)
        )
    trained = fit_model(
        goal.algorithm,
        matrix,
        label,
        groups,
        encoder,
        report.class_weighting,
        seed=seed,
        sample_weight=weight,
    )
    return GoalTraining(
        goal=goal,
        trained=trained,
        backtest=report,
        importance=grouped_importance(trained, matrix, seed),
        training_rows=len(label),
        first_as_of_date=str(dates.min()),
        last_as_of_date=str(dates.max()),
    )


def key_share_for(rows: int, max_rows: int) -> float:
    """The share of keys whose snapshots make at most `max_rows` of `rows`."""
    return min(1.0, max_rows / rows) if rows else 1.0


def leakage_gate(con: duckdb.DuckDBPyConnection, goal: Goal, span: DataSpan, rows: int) -> GateResult:
    """Single-feature AUCs of every training feature on a sample of keys; declared post-contact
    columns are reported as kept out of training."""
    sample = training_set(con, goal, span, Sampling.of_keys(key_share_for(rows, LEAKAGE_SAMPLE_ROWS)))
    features = feature_columns(sample, goal)
    label = sample["label"].to_numpy()
    numbers: dict[str, int | str] = {
        "features_checked": len(features),
        "rows_checked": sample.num_rows,
        "kept_out_as_post_contact": ", ".join(goal.known_after_contact) or "none declared",
    }
    if sample.num_rows == 0 or label.min() == label.max():
        return GateResult("no_leakage", True, True, "one class only: nothing to check", numbers)
    # Features are built point in time by dbt, so no review level for "filled in after contact".
    suspects = leakage_suspects(
        {name: sample[name].to_numpy(zero_copy_only=False) for name in features}, label, review_limit=None
    )
    blocking = [s for s in suspects if s.blocking]
    review = [s for s in suspects if not s.blocking]
    numbers["suspects"] = "; ".join(f"{s.column}: {s.reason}" for s in suspects) or "none"
    if blocking:
        names = ", ".join(s.column for s in blocking)
        message = f"leaking feature(s) would reach training: {names} ({numbers['suspects']})"
        return GateResult("no_leakage", False, True, message, numbers)
    if review:
        names = ", ".join(s.column for s in review)
        return GateResult("no_leakage", False, False, f"review: {names} ({numbers['suspects']})", numbers)
    return GateResult(
        "no_leakage", True, True, f"no feature predicts the label alone ({len(features)} checked)", numbers
    )
