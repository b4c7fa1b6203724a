"""Leakage check before training: columns known only after the outcome, and single features that
alone predict the label almost perfectly (a model built on them would look great and be useless).

A feature's power alone is its ROC-AUC as a score (or as its reverse, whichever is higher).
Categorical columns are scored by their category's conversion rate, estimated out of fold so that
an identifier column (one category per row) does not look predictive by memorizing the labels.
Missing values are a category of their own: a field filled in only after contact leaks through
its emptiness too; and where it is filled, such a field is often nearly the outcome itself, so
the AUC among filled rows is checked as well (X Education's `Tags`: 0.92 overall, 0.97 where
filled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2b_scoring.lib.ml.metrics import roc_auc

SINGLE_FEATURE_AUC_LIMIT = 0.95
REVIEW_AUC_LIMIT = 0.80
MIN_CLASS_ROWS = 20


@dataclass(frozen=True)
class LeakageSuspect:
    column: str
    reason: str
    auc: float | None = None
    blocking: bool = True


def single_feature_auc(values: np.ndarray, label: np.ndarray, seed: int = 0) -> float:
    """How well one column alone separates the classes, in either direction (0.5 .. 1)."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        numeric = values.astype(float)
        missing = np.isnan(numeric)
        # Missing sorts below every value, as a category of its own.
        floor = np.nanmin(numeric) - 1.0 if (~missing).any() else 0.0
        score = np.where(missing, floor, numeric)
    else:
        score = _out_of_fold_rate(values, np.asarray(label).astype(float), seed)
    auc = roc_auc(score, label)
    return max(auc, 1.0 - auc)


def _out_of_fold_rate(values: np.ndarray, label: np.ndarray, seed: int) -> np.ndarray:
    """Each row's category conversion rate measured on the other half of the rows (smoothed
    towards the overall rate; unseen categories get the overall rate)."""
    categories = np.unique(values.astype(str), return_inverse=True)[1]
    fold = np.random.default_rng(seed).integers(0, 2, len(values))
    rate = np.empty(len(values))
    prior, smoothing = label.mean(), 10.0
    for part in (0, 1):
        other = fold != part
        hits = np.bincount(categories[other], weights=label[other], minlength=categories.max() + 1)
        rows = np.bincount(categories[other], minlength=categories.max() + 1)
        smoothed = (hits + smoothing * prior) / (rows + smoothing)
        rate[fold == part] = smoothed[categories[fold == part]]
    return rate


def _filled(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "biuf":
        return ~np.isnan(values.astype(float))
    return ~pd.isna(values) & (values != "")


def filled_rows_auc(values: np.ndarray, label: np.ndarray) -> float | None:
    """Single-feature AUC among the rows where the column is filled (None when it is filled on
    every row, or too few rows or one class are there): a field sales fill in after contact is
    nearly the outcome where present."""
    values, label = np.asarray(values), np.asarray(label).astype(bool)
    filled = _filled(values)
    positives = int(label[filled].sum())
    if filled.all() or positives < MIN_CLASS_ROWS or filled.sum() - positives < MIN_CLASS_ROWS:
        return None
    return single_feature_auc(values[filled], label[filled])


def leakage_suspects(
    columns: Mapping[str, np.ndarray],
    label: np.ndarray,
    known_after_contact: Sequence[str] = (),
    auc_limit: float = SINGLE_FEATURE_AUC_LIMIT,
    review_limit: float | None = REVIEW_AUC_LIMIT,
) -> list[LeakageSuspect]:
    """Columns that must not reach training (blocking): declared post-contact columns that are
    present, and any column whose single-feature AUC reaches `auc_limit` on all rows or on the
    rows where it is filled. Columns reaching `review_limit` where filled are named too, as
    warnings: strong alone, worth checking whether sales fill them in after contact (None: no
    review, for features built point in time)."""
    suspects = [
        LeakageSuspect(name, "declared as known only after sales contact")
        for name in known_after_contact
        if name in columns
    ]
    declared = {s.column for s in suspects}
    for name, values in columns.items():
        if name in declared:
            continue
        overall = single_feature_auc(values, label)
        where_filled = filled_rows_auc(values, label)
        if overall >= auc_limit:
            reason = f"alone predicts the label with ROC-AUC {overall:.3f} (limit {auc_limit})"
            suspects.append(LeakageSuspect(name, reason, overall))
        elif where_filled is not None and where_filled >= auc_limit:
            reason = (
                f"where filled, alone predicts the label with ROC-AUC {where_filled:.3f} "
                f"(limit {auc_limit}): typical of a field completed after the outcome"
            )
            suspects.append(LeakageSuspect(name, reason, where_filled))
        elif review_limit is not None and where_filled is not None and where_filled >= review_limit:
            reason = (
                f"where filled, predicts the label with ROC-AUC {where_filled:.3f} alone "
                f"(review above {review_limit}): check whether it is filled in after sales contact"
            )
            suspects.append(LeakageSuspect(name, reason, where_filled, blocking=False))
    return suspects
