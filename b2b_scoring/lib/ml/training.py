"""Fitting one scoring model: the algorithm cross-fitted on two halves of the keys, calibrated
on the scores each half got from the model fitted on the other (large fits: one model on 80% of
the keys, calibrated on the rest).

The splits are by whole keys (persons or accounts), so the calibrator never sees a score of
someone the model was fitted on: weekly snapshots of one person share their label, and a model that
memorized them would look over-confident on them and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from b2b_scoring.lib.goals import PointsRule
from b2b_scoring.lib.ml.models import (
    Calibrator,
    CrossFittedModel,
    FeatureEncoder,
    LightGBMModel,
    LogisticModel,
    PointsModel,
    RandomForestModel,
    ScoringModel,
)

BASELINE = "rules_baseline"
# From this many positive rows a model is fitted once (not cross-fitted on two halves) and LightGBM
# takes twice the step. On 1M persons (500k+ positive snapshots) cross-fitting gained 0.0007
# ROC-AUC for 1.6x the time, and the larger step the same ROC-AUC in half the time; on 50,000
# persons (28k) cross-fitting gained 0.002-0.004 (with two splits) and the larger step cost 0.004.
LARGE_FIT_POSITIVES = 100_000


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


def held_out_keys(groups: np.ndarray, label: np.ndarray, share: float, seed: int = 0) -> np.ndarray:
    """True for rows whose key falls in the held-out `share` of the keys: that share of the keys
    that ever convert and of the others, so rare positives reach both sides."""
    _, key_index = np.unique(groups, return_inverse=True)
    converts = np.zeros(key_index.max() + 1, dtype=bool)
    converts[key_index[np.asarray(label) == 1]] = True
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(converts), dtype=bool)
    for members in (np.flatnonzero(converts), np.flatnonzero(~converts)):
        count = int(round(share * len(members)))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        held_out[rng.choice(members, count, replace=False)] = True
    return held_out[key_index]


def _fit_algorithm(
    algorithm: str,
    fit: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    encoder: FeatureEncoder,
    class_weighting: str,
    learning_rate: float,
    seed: int,
) -> ScoringModel:
    matrix, label = fit
    if algorithm == "lightgbm":
        return LightGBMModel.fit(matrix, label, encoder, validation, class_weighting, learning_rate, seed)
    if algorithm == "random_forest":
        return RandomForestModel.fit(matrix, label, class_weighting, seed)
    if algorithm == "logistic_regression":
        return LogisticModel.fit(matrix, label, encoder, class_weighting)
    raise ValueError(f"unknown algorithm {algorithm!r}")


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
    """Fit `algorithm` (lightgbm, random_forest, logistic_regression or the rules baseline) and its
    calibrator on rows of different keys. Below LARGE_FIT_POSITIVES positive rows, twice: on each
    half of the keys, validated on the other; the model is the mean of the two and is calibrated
    on the scores each half got from the model that did not see it. Above, once, on 80% of the
    keys, calibrated on the rest. With `sample_weight` (rows sampled by class), the models fit the
    rows as sampled, which only shifts their log-odds, and the calibration and base rate weigh
    them back to the population."""
    model: ScoringModel
    if algorithm == BASELINE:
        model = PointsModel.from_rules(encoder, rules)
        calibrator = Calibrator.fit(model.raw_score(matrix), label, sample_weight)
    else:
        large = int(np.sum(label)) >= LARGE_FIT_POSITIVES
        held_out = held_out_keys(groups, label, 0.2 if large else 0.5, seed)
        splits = (held_out,) if large else (held_out, ~held_out)
        members = []
        out_of_fold = np.full(len(label), np.nan)
        for held in splits:
            if label[held].min() == label[held].max() or label[~held].min() == label[~held].max():
                raise ValueError("both classes are needed in the fitting and the calibration rows")
            member = _fit_algorithm(
                algorithm,
                (matrix[~held], label[~held]),
                (matrix[held], label[held]),
                encoder,
                class_weighting,
                0.1 if large else 0.05,
                seed,
            )
            out_of_fold[held] = member.raw_score(matrix[held])
            members.append(member)
        model = members[0] if large else CrossFittedModel(tuple(members))
        scored = ~np.isnan(out_of_fold)
        weight = None if sample_weight is None else sample_weight[scored]
        calibrator = Calibrator.fit(out_of_fold[scored], label[scored], weight)
    base_rate = float(np.average(label, weights=sample_weight))
    return TrainedModel(algorithm, class_weighting, encoder, model, calibrator, base_rate)
