"""Fitting one scoring model: the algorithm on most keys, its calibrator on the rest.

The calibration rows are whole keys (persons or accounts) held out, so the calibrator never sees
a snapshot of someone the model was fitted on: weekly snapshots of one person share their label,
and a model that memorized them would look over-confident on them and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from b2b_scoring.lib.goals import PointsRule
from b2b_scoring.lib.ml.models import (
    Calibrator,
    FeatureEncoder,
    LightGBMModel,
    LogisticModel,
    PointsModel,
    RandomForestModel,
    ScoringModel,
)

CALIBRATION_SHARE = 0.2
BASELINE = "rules_baseline"


@dataclass
class TrainedModel:
    """A fitted model with everything needed to score new rows."""

    algorithm: str
    class_weighting: str
    encoder: FeatureEncoder
    model: ScoringModel
    calibrator: Calibrator
    base_rate: float | None = None  # positive share of the training rows (None: older artifact)
    # Account goals whose backtest is won by a roll-up of person scores: which roll-up, of which
    # person goal, and its calibration to the account goal's probability.
    rollup_source: str | None = None
    rollup_person_goal: str | None = None
    rollup_calibrator: Calibrator | None = None

    def probability_of_matrix(self, matrix: np.ndarray) -> np.ndarray:
        return self.calibrator.probability(self.model.raw_score(matrix))

    def probability(self, table: pa.Table) -> np.ndarray:
        return self.probability_of_matrix(self.encoder.matrix(table))


def calibration_keys(groups: np.ndarray, label: np.ndarray, seed: int = 0) -> np.ndarray:
    """True for rows whose key falls in the held-out calibration share: that share of the keys
    that ever convert and of the others, so rare positives reach both sides."""
    _, key_index = np.unique(groups, return_inverse=True)
    converts = np.zeros(key_index.max() + 1, dtype=bool)
    converts[key_index[np.asarray(label) == 1]] = True
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(converts), dtype=bool)
    for members in (np.flatnonzero(converts), np.flatnonzero(~converts)):
        count = int(round(CALIBRATION_SHARE * len(members)))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        held_out[rng.choice(members, count, replace=False)] = True
    return held_out[key_index]


def fit_model(
    algorithm: str,
    matrix: np.ndarray,
    label: np.ndarray,
    groups: np.ndarray,
    encoder: FeatureEncoder,
    class_weighting: str = "none",
    rules: Sequence[PointsRule] = (),
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
) -> TrainedModel:
    """Fit `algorithm` (lightgbm, random_forest, logistic_regression or the rules baseline) on the
    rows of most keys and calibrate it on the held-out keys. With `sample_weight` (rows sampled
    by class), the model fits the rows as sampled, which only shifts its log-odds, and the
    calibration and base rate weigh them back to the population."""
    held_out = calibration_keys(groups, label, seed)
    if label[held_out].min() == label[held_out].max() or label[~held_out].min() == label[~held_out].max():
        raise ValueError("both classes are needed in the fitting and the calibration rows")
    fit_rows, fit_label = matrix[~held_out], label[~held_out]
    model: ScoringModel
    if algorithm == "lightgbm":
        model = LightGBMModel.fit(
            fit_rows, fit_label, encoder, (matrix[held_out], label[held_out]), class_weighting, seed
        )
    elif algorithm == "random_forest":
        model = RandomForestModel.fit(fit_rows, fit_label, class_weighting, seed)
    elif algorithm == "logistic_regression":
        model = LogisticModel.fit(fit_rows, fit_label, encoder, class_weighting)
    elif algorithm == BASELINE:
        model = PointsModel.from_rules(encoder, rules)
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}")
    held_out_weight = None if sample_weight is None else sample_weight[held_out]
    calibrator = Calibrator.fit(model.raw_score(matrix[held_out]), label[held_out], held_out_weight)
    base_rate = float(np.average(label, weights=sample_weight))
    return TrainedModel(algorithm, class_weighting, encoder, model, calibrator, base_rate)
