"""Leakage check before training: columns known only after the outcome, and single features that
alone predict the label almost perfectly (a model built on them would look great and be useless).

A feature's power alone is its ROC-AUC as a score (or as its reverse, whichever is higher).
Categorical columns are scored by their category's conversion rate, estimated out of fold so that
an identifier column (one category per row) does not look predictive by memorizing the labels.
Missing values are a category of their own: a field filled in only after contact leaks through
its emptiness too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SINGLE_FEATURE_AUC_LIMIT = 0.95


@dataclass(frozen=True)
class LeakageSuspect:
    column: str
    reason: str
    auc: float | None = None


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC-AUC of `score` for binary `label` (ties count one half), via average ranks."""
    label = np.asarray(label).astype(bool)
    positives, negatives = int(label.sum()), int((~label).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("ROC-AUC needs both classes in the labels")
    _, inverse, counts = np.unique(np.asarray(score), return_inverse=True, return_counts=True)
    # Average 1-based rank of each distinct value: the middle of its block in sorted order.
    block_end = np.cumsum(counts)
    average_rank = block_end - (counts - 1) / 2.0
    rank_sum = average_rank[inverse][label].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


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


def leakage_suspects(
    columns: Mapping[str, np.ndarray],
    label: np.ndarray,
    known_after_contact: Sequence[str] = (),
    auc_limit: float = SINGLE_FEATURE_AUC_LIMIT,
) -> list[LeakageSuspect]:
    """Columns that must not reach training: declared post-contact columns that are present, and
    any column whose single-feature AUC reaches `auc_limit`."""
    suspects = [
        LeakageSuspect(name, "declared as known only after sales contact")
        for name in known_after_contact
        if name in columns
    ]
    declared = {s.column for s in suspects}
    for name, values in columns.items():
        if name in declared:
            continue
        auc = single_feature_auc(values, label)
        if auc >= auc_limit:
            suspects.append(
                LeakageSuspect(
                    name, f"alone predicts the label with ROC-AUC {auc:.3f} (limit {auc_limit})", auc
                )
            )
    return suspects
