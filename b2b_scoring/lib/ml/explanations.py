"""Per-row contributions of each feature to a model's raw score, summing with a base value to it.

LightGBM: exact TreeSHAP, fast. LightGBM's own `pred_contrib` runs the TreeSHAP recursion for
every row and every tree (about 6k rows/s on this machine for the default lead model, so ~3 min
for 1M persons). But a tree's TreeSHAP values for a row depend only on which way the row goes at
each of that tree's splits: rows that go the same way at every split of a tree get the same
values from it. So, per tree, every row is classed at every split by vectorized comparisons
(missing / left / right, and zero when the split treats zero as missing: a refinement of the
decision, so the classing is exact whatever LightGBM does with missing values), rows are grouped
by their pattern of classes, LightGBM computes that one tree's contributions for one row per
pattern (a few hundred rows), and every row of the pattern receives them. The result equals
`pred_contrib` (the tests compare them) at a small fraction of its cost.

Logistic regression: the exact linear terms (coefficient x standardized value) per feature.
Random forest: the per-tree path decomposition (each split's change of the node value credited to
its feature), which sums exactly to the forest's probability.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

ROW_BATCH = 200_000
_BITS_PER_SPLIT = 2
_SPLITS_PER_WORD = 31  # 62 bits of an int64


@dataclass(frozen=True)
class _Split:
    feature: int
    threshold: float  # numerical splits
    left_categories: np.ndarray | None  # categorical splits: the codes that go left
    zero_is_missing: bool


def _tree_splits(node: dict) -> list[_Split]:
    splits, stack = [], [node]
    while stack:
        current = stack.pop()
        if "split_feature" not in current:
            continue
        categorical = current["decision_type"] == "=="
        splits.append(
            _Split(
                feature=int(current["split_feature"]),
                threshold=np.nan if categorical else float(current["threshold"]),
                left_categories=(
                    np.array([int(c) for c in str(current["threshold"]).split("||")], dtype=np.float64)
                    if categorical
                    else None
                ),
                zero_is_missing=current.get("missing_type") == "Zero",
            )
        )
        stack.extend((current["left_child"], current["right_child"]))
    return splits


def _pattern_groups(columns: np.ndarray, missing: np.ndarray, splits: list[_Split]) -> np.ndarray:
    """A group number per row: rows in one group take the same way at every split. Per split two
    bits: right by value, and missing (NaN, or zero where the split treats zero as missing)."""
    groups = np.zeros(columns.shape[0], dtype=np.int64)
    for start in range(0, len(splits), _SPLITS_PER_WORD):
        word = np.zeros(columns.shape[0], dtype=np.int64)
        for position, split in enumerate(splits[start : start + _SPLITS_PER_WORD]):
            column = columns[:, split.feature]
            if split.left_categories is None:
                right = column > split.threshold
            else:
                right = ~np.isin(column, split.left_categories)
            word += right.astype(np.int64) << (_BITS_PER_SPLIT * position)
            flagged = missing[:, split.feature] if missing is not None else None
            if split.zero_is_missing:
                flagged = (column == 0) if flagged is None else flagged | (column == 0)
            if flagged is not None:
                word += flagged.astype(np.int64) << (_BITS_PER_SPLIT * position + 1)
        codes = pd.factorize(word)[0].astype(np.int64)
        combined = groups * (int(codes.max()) + 1) + codes if start else codes
        groups = pd.factorize(combined)[0].astype(np.int64)
    return groups


def lightgbm_contributions(
    booster: lgb.Booster, matrix: np.ndarray, num_iteration: int | None = None
) -> np.ndarray:
    """Exact TreeSHAP contributions to the raw score, as `booster.predict(pred_contrib=True)`:
    one column per feature plus the base value last."""
    trees = num_iteration or booster.current_iteration()
    splits = [
        _tree_splits(tree["tree_structure"]) for tree in booster.dump_model(num_iteration=trees)["tree_info"]
    ]
    features = matrix.shape[1]
    result = np.zeros((matrix.shape[0], features + 1))
    for rows in _batches(matrix.shape[0]):
        batch = np.asfortranarray(matrix[rows], dtype=np.float64)
        nan = np.isnan(batch)
        missing = nan if nan.any() else None
        accumulated = np.zeros((batch.shape[0], features + 1), order="F")
        for tree, tree_splits in enumerate(splits):
            groups = _pattern_groups(batch, missing, tree_splits)
            representative = np.empty(int(groups.max()) + 1, dtype=np.int64)
            representative[groups] = np.arange(len(groups))
            values = booster.predict(
                batch[representative], pred_contrib=True, start_iteration=tree, num_iteration=1
            )
            for column in {s.feature for s in tree_splits} | {features}:
                accumulated[:, column] += values[:, column].take(groups)
        result[rows] = accumulated
    return result


def _batches(rows: int) -> Iterator[slice]:
    for start in range(0, rows, ROW_BATCH):
        yield slice(start, min(start + ROW_BATCH, rows))


def linear_contributions(
    coefficients: np.ndarray,
    intercept: float,
    design: np.ndarray,
    feature_of_column: np.ndarray,
    features: int,
) -> np.ndarray:
    """Exact terms of a linear raw score, coefficient x design value, summed per feature; the base
    value is the intercept (the score of an average row: numbers at their training means, nothing
    missing, no category)."""
    result = np.zeros((design.shape[0], features + 1))
    terms = design * coefficients
    for column in range(design.shape[1]):
        result[:, feature_of_column[column]] += terms[:, column]
    result[:, -1] = intercept
    return result


def forest_contributions(forest: RandomForestClassifier, matrix: np.ndarray) -> np.ndarray:
    """Path decomposition of the forest's probability: for every split a row passes, the change
    of the node's positive share is credited to the split's feature; averaged over the trees."""
    result = np.zeros((matrix.shape[0], matrix.shape[1] + 1))
    rows = np.asarray(matrix, dtype=np.float32)
    for estimator in forest.estimators_:
        tree = estimator.tree_
        share = tree.value[:, 0, 1] / tree.value[:, 0, :].sum(axis=1)
        parent = np.full(tree.node_count, -1)
        for side in (tree.children_left, tree.children_right):
            inner = side >= 0
            parent[side[inner]] = np.flatnonzero(inner)
        has_parent = parent >= 0
        change = np.where(has_parent, share - share[np.maximum(parent, 0)], 0.0)
        credited = np.where(has_parent, tree.feature[np.maximum(parent, 0)], matrix.shape[1])
        path = estimator.decision_path(rows)
        contribution = np.zeros((tree.node_count, matrix.shape[1] + 1))
        contribution[np.arange(tree.node_count), credited] = change
        contribution[0, -1] = share[0]
        result += path @ contribution
    return result / len(forest.estimators_)
