"""The models a goal can train (LightGBM, random forest, logistic regression), the rules/points
baseline they are compared with, and probability calibration.

Every model reads the same numeric matrix from `FeatureEncoder`: numbers as floats (missing =
NaN) and categories as integer codes of the categories seen in training (missing or unseen =
NaN). A model returns a raw score; a `Calibrator` fitted on rows the model never saw turns it
into a probability.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.ensemble import RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from b2b_scoring.lib.goals import PointsRule
from b2b_scoring.lib.ml.explanations import forest_contributions, lightgbm_contributions, linear_contributions

MAX_CATEGORIES = 100
ISOTONIC_MIN_ROWS = 20_000
ISOTONIC_MIN_POSITIVES = 500
ISOTONIC_BIN_ROWS = 200
THREADS = 2
LOGISTIC_MAX_ROWS = 300_000


@dataclass(frozen=True)
class FeatureEncoder:
    """Which columns are features and how each becomes a float column of the matrix."""

    numeric: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]]

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categories]

    @property
    def categorical_indices(self) -> list[int]:
        return list(range(len(self.numeric), len(self.numeric) + len(self.categories)))

    @classmethod
    def fit(cls, table: pa.Table, columns: Sequence[str]) -> FeatureEncoder:
        """Numbers and booleans are numeric; anything else is a category (its MAX_CATEGORIES most
        frequent values are kept, in order of frequency)."""
        numeric, categories = [], {}
        for name in columns:
            kind = table.schema.field(name).type
            if (
                pa.types.is_integer(kind)
                or pa.types.is_floating(kind)
                or pa.types.is_boolean(kind)
                or (pa.types.is_decimal(kind))
            ):
                numeric.append(name)
            else:
                counts = pc.value_counts(pc.cast(table[name], pa.string()).combine_chunks())
                values, frequency = counts.field("values"), counts.field("counts").to_numpy()
                order = np.argsort(-frequency, kind="stable")
                kept = [values[int(i)].as_py() for i in order[: MAX_CATEGORIES + 1]]
                categories[name] = tuple(v for v in kept if v is not None)[:MAX_CATEGORIES]
        return cls(tuple(numeric), categories)

    def matrix(self, table: pa.Table) -> np.ndarray:
        missing = [name for name in self.names if name not in table.column_names]
        if missing:
            raise ValueError(f"feature columns missing from the input: {missing}")
        matrix = np.empty((table.num_rows, len(self.names)), dtype=np.float32)
        for i, name in enumerate(self.numeric):
            matrix[:, i] = _as_float(table[name])
        for j, (name, values) in enumerate(self.categories.items(), start=len(self.numeric)):
            codes = pc.index_in(pc.cast(table[name], pa.string()), value_set=pa.array(values, pa.string()))
            matrix[:, j] = _as_float(codes)
        return matrix


def _as_float(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


class ScoringModel(Protocol):
    def raw_score(self, matrix: np.ndarray) -> np.ndarray: ...

    def importance(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(gain-style importance, mean |contribution| per feature or None) on a sample."""
        ...

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per row, each feature's contribution to the raw score and the base value (last column);
        a row sums to its raw score."""
        ...


@dataclass
class LightGBMModel:
    booster: lgb.Booster

    @classmethod
    def fit(
        cls,
        matrix: np.ndarray,
        label: np.ndarray,
        encoder: FeatureEncoder,
        validation: tuple[np.ndarray, np.ndarray],
        class_weighting: str,
        learning_rate: float = 0.05,
        seed: int = 0,
    ) -> LightGBMModel:
        params = {
            "objective": "binary",
            "learning_rate": learning_rate,
            "num_leaves": 15,
            "min_data_in_leaf": 200,
            "min_sum_hessian_in_leaf": 1.0,
            "feature_fraction": 0.7,
            "bagging_fraction": 0.9,
            "bagging_freq": 1,
            "lambda_l2": 10.0,
            "cat_smooth": 50.0,
            "min_data_per_group": 200,
            "num_threads": THREADS,
            "seed": seed,
            "verbosity": -1,
            "deterministic": True,
            "force_row_wise": True,
        }
        valid_matrix, valid_label = validation
        train = lgb.Dataset(
            matrix,
            label,
            weight=class_weights(label, class_weighting),
            feature_name=_lightgbm_names(encoder.names),
            categorical_feature=encoder.categorical_indices,
            free_raw_data=True,
        )
        valid = lgb.Dataset(
            valid_matrix, valid_label, weight=class_weights(valid_label, class_weighting), reference=train
        )
        booster = lgb.train(
            params,
            train,
            num_boost_round=1000,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(100, verbose=False)],
        )
        return cls(booster)

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        return self.booster.predict(matrix, raw_score=True, num_iteration=self.booster.best_iteration)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP contributions to the raw score (last column: the expected value)."""
        return lightgbm_contributions(self.booster, matrix, self.booster.best_iteration or None)

    def importance(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        gain = self.booster.feature_importance("gain", iteration=self.booster.best_iteration)
        return gain.astype(float), np.abs(self.contributions(matrix)[:, :-1]).mean(axis=0)


def _lightgbm_names(names: Sequence[str]) -> list[str]:
    # LightGBM rejects JSON special characters in feature names (real exports have any header).
    return [re.sub(r"[^0-9A-Za-z_]", "_", name) + f"__{i}" for i, name in enumerate(names)]


CLASS_WEIGHTINGS = ("none", "balanced")


def class_weights(label: np.ndarray, class_weighting: str) -> np.ndarray | None:
    """None (every row weighs 1), or positives up-weighted to the negatives' total ('balanced')."""
    if class_weighting not in CLASS_WEIGHTINGS:
        raise ValueError(f"class weighting must be one of {CLASS_WEIGHTINGS}, got {class_weighting!r}")
    if class_weighting == "none":
        return None
    positive = np.asarray(label) == 1
    return np.where(positive, (~positive).sum() / max(positive.sum(), 1), 1.0)


@dataclass
class RandomForestModel:
    forest: RandomForestClassifier

    @classmethod
    def fit(
        cls, matrix: np.ndarray, label: np.ndarray, class_weighting: str, seed: int = 0
    ) -> RandomForestModel:
        forest = RandomForestClassifier(
            n_estimators=200,
            min_samples_leaf=20,
            max_samples=min(1.0, 200_000 / len(label)),
            n_jobs=THREADS,
            random_state=seed,
        )
        forest.fit(matrix, label, sample_weight=class_weights(label, class_weighting))
        return cls(forest)

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        return self.forest.predict_proba(matrix)[:, 1]

    def importance(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self.forest.feature_importances_.astype(float), None

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        return forest_contributions(self.forest, matrix)


@dataclass
class LinearDesign:
    """Logistic-regression inputs: log1p of non-negative numbers, standardized, missing filled with
    the mean plus a missing indicator; categories one-hot."""

    encoder: FeatureEncoder
    log_columns: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, matrix: np.ndarray, encoder: FeatureEncoder) -> LinearDesign:
        numeric = matrix[:, : len(encoder.numeric)].astype(np.float64)
        log_columns = np.nanmin(np.where(np.isnan(numeric), 0, numeric), axis=0) >= 0
        transformed = np.where(log_columns, np.log1p(np.where(log_columns, numeric, 0)), numeric)
        mean = np.nan_to_num(np.nanmean(transformed, axis=0))
        scale = np.nan_to_num(np.nanstd(transformed, axis=0))
        return cls(encoder, log_columns, mean, np.where(scale > 0, scale, 1.0))

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        numeric = matrix[:, : len(self.encoder.numeric)].astype(np.float64)
        transformed = np.where(self.log_columns, np.log1p(np.where(self.log_columns, numeric, 0)), numeric)
        missing = np.isnan(transformed)
        standardized = np.where(missing, 0.0, (transformed - self.mean) / self.scale)
        parts = [standardized, missing.astype(np.float64)]
        for j, values in enumerate(self.encoder.categories.values(), start=len(self.encoder.numeric)):
            codes = matrix[:, j]
            parts.append((codes[:, None] == np.arange(len(values))[None, :]).astype(np.float64))
        return np.hstack(parts)

    def field_of_column(self) -> np.ndarray:
        """For each design column, the index of the feature it comes from."""
        numeric = np.arange(len(self.encoder.numeric))
        one_hot = [
            np.full(len(values), j)
            for j, values in enumerate(self.encoder.categories.values(), start=len(self.encoder.numeric))
        ]
        return np.concatenate([numeric, numeric, *one_hot]).astype(int)


@dataclass
class LogisticModel:
    design: LinearDesign
    regression: LogisticRegression

    @classmethod
    def fit(
        cls,
        matrix: np.ndarray,
        label: np.ndarray,
        encoder: FeatureEncoder,
        class_weighting: str,
    ) -> LogisticModel:
        if len(label) > LOGISTIC_MAX_ROWS:
            # A baseline: a random subset of rows estimates its few coefficients as well.
            rows = np.random.default_rng(0).choice(len(label), LOGISTIC_MAX_ROWS, replace=False)
            matrix, label = matrix[rows], label[rows]
        design = LinearDesign.fit(matrix, encoder)
        regression = LogisticRegression(C=1.0, max_iter=2000)
        regression.fit(design.transform(matrix), label, sample_weight=class_weights(label, class_weighting))
        return cls(design, regression)

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        return self.regression.decision_function(self.design.transform(matrix))

    def importance(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        design = self.design.transform(matrix)
        contribution = np.abs((design - design.mean(axis=0)) * self.regression.coef_[0]).mean(axis=0)
        fields = self.design.field_of_column()
        per_feature = np.bincount(fields, weights=contribution, minlength=len(self.design.encoder.names))
        return per_feature, per_feature

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        return linear_contributions(
            self.regression.coef_[0],
            float(self.regression.intercept_[0]),
            self.design.transform(matrix),
            self.design.field_of_column(),
            len(self.design.encoder.names),
        )


@dataclass
class PointsModel:
    """The classic hand-set scoring ("VP title +10, pricing page +15"): the sum of the points of
    the rules a row meets. Rules on features the data does not have are skipped (and reported)."""

    encoder: FeatureEncoder
    rules: tuple[PointsRule, ...]
    skipped: tuple[str, ...] = field(default=())

    @classmethod
    def from_rules(cls, encoder: FeatureEncoder, rules: Sequence[PointsRule]) -> PointsModel:
        names = set(encoder.names)
        usable = tuple(rule for rule in rules if rule.feature in names)
        return cls(encoder, usable, tuple(rule.describe() for rule in rules if rule.feature not in names))

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        return self.contributions(matrix).sum(axis=1)

    def _points_of(self, rule: PointsRule, column: np.ndarray) -> np.ndarray:
        if rule.at_least is not None:
            met = column >= rule.at_least
        else:
            values = self.encoder.categories.get(rule.feature, ())
            met = np.isin(column, [values.index(v) for v in rule.one_of if v in values])
        return np.where(met, rule.points, 0.0)

    def importance(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros(len(self.encoder.names)), None

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        position = {name: i for i, name in enumerate(self.encoder.names)}
        result = np.zeros((len(matrix), len(self.encoder.names) + 1))
        for rule in self.rules:
            result[:, position[rule.feature]] += self._points_of(rule, matrix[:, position[rule.feature]])
        return result


@dataclass
class CrossFittedModel:
    """Models of one algorithm fitted on complementary halves of the keys (each validated and
    calibrated on the other half): it scores with their mean raw score, so every key's rows shape
    the model and the split's luck averages out."""

    members: tuple[ScoringModel, ...]

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        return np.mean([member.raw_score(matrix) for member in self.members], axis=0)

    def importance(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        gains, contributions = zip(*(member.importance(matrix) for member in self.members), strict=True)
        mean_contribution = None if any(c is None for c in contributions) else np.mean(contributions, axis=0)
        return np.mean(gains, axis=0), mean_contribution

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        # Summed in place: a stack of every member's (rows x features) array would double the peak.
        total = self.members[0].contributions(matrix)
        for member in self.members[1:]:
            total += member.contributions(matrix)
        return total / len(self.members)


@dataclass
class Calibrator:
    """Raw score -> probability: Platt (sigmoid) on small calibration sets, isotonic on large ones
    (isotonic needs many rows and positives to not overfit its steps), fitted on bins of rows."""

    method: str
    sigmoid: LogisticRegression | None = None
    isotonic: IsotonicRegression | None = None

    @classmethod
    def fit(cls, raw: np.ndarray, label: np.ndarray, weight: np.ndarray | None = None) -> Calibrator:
        """`weight`: each row's weight (rows sampled by class weigh back to the population)."""
        label = np.asarray(label, dtype=float)
        weight = np.ones(len(label)) if weight is None else np.asarray(weight, dtype=float)
        positives = int(np.sum(label))
        if len(label) >= ISOTONIC_MIN_ROWS and positives >= ISOTONIC_MIN_POSITIVES:
            # Fitted on bins of ISOTONIC_BIN_ROWS rows, each rate with one pseudo-row at the overall
            # rate: no step rests on a handful of rows, and no probability is exactly 0 or 1.
            order = np.argsort(raw, kind="stable")
            ordered_raw = np.asarray(raw, dtype=float)[order]
            ordered_weight = weight[order]
            bins = max(1, len(order) // ISOTONIC_BIN_ROWS)
            starts = (np.arange(bins) * len(order)) // bins
            count = np.diff(np.r_[starts, len(order)])
            bin_weight = np.add.reduceat(ordered_weight, starts)
            isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            isotonic.fit(
                np.add.reduceat(ordered_raw, starts) / count,
                (np.add.reduceat(label[order] * ordered_weight, starts) + np.average(label, weights=weight))
                / (bin_weight + 1),
                sample_weight=bin_weight,
            )
            return cls("isotonic", isotonic=isotonic)
        sigmoid = LogisticRegression(C=1e6, max_iter=1000)
        sigmoid.fit(np.asarray(raw, dtype=float).reshape(-1, 1), label, sample_weight=weight)
        return cls("sigmoid", sigmoid=sigmoid)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        if self.isotonic is not None:
            return self.isotonic.predict(raw)
        assert self.sigmoid is not None
        return self.sigmoid.predict_proba(np.asarray(raw, dtype=float).reshape(-1, 1))[:, 1]
