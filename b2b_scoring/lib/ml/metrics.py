"""Evaluation of scores against outcomes: ranking (ROC-AUC, PR-AUC, lift and recall in the top
share), probability quality (Brier score, calibration table and error) and bootstrap confidence
intervals. All vectorized over numpy arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TOP_SHARES = (0.10, 0.20)
CALIBRATION_BINS = 10


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


def pr_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Average precision: precision at each positive, in descending score order (ties broken
    pessimistically, so a constant score is worth the base rate)."""
    label = np.asarray(label).astype(bool)
    if not label.any():
        raise ValueError("PR-AUC needs at least one positive")
    order = np.lexsort((label, -np.asarray(score, dtype=float)))
    hits = label[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at[hits].mean())


def top_share(score: np.ndarray, label: np.ndarray, share: float) -> tuple[float, float]:
    """(lift, recall) of the top `share` of rows by score: their conversion rate over the overall
    rate, and the fraction of all positives they hold."""
    label = np.asarray(label).astype(float)
    top = max(1, int(round(share * len(label))))
    chosen = np.argpartition(-np.asarray(score, dtype=float), top - 1)[:top]
    positives = label.sum()
    caught = label[chosen].sum()
    return float((caught / top) / (positives / len(label))), float(caught / positives)


def brier(probability: np.ndarray, label: np.ndarray) -> float:
    return float(np.mean((np.asarray(probability, dtype=float) - np.asarray(label, dtype=float)) ** 2))


@dataclass(frozen=True)
class CalibrationRow:
    bin: int
    rows: int
    mean_probability: float
    observed_rate: float


def calibration_table(
    probability: np.ndarray, label: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[CalibrationRow]:
    """Rows split into equal-count bins by predicted probability: mean prediction vs observed rate."""
    probability = np.asarray(probability, dtype=float)
    label = np.asarray(label, dtype=float)
    order = np.argsort(probability, kind="stable")
    groups = np.array_split(order, min(bins, len(order)))
    return [
        CalibrationRow(i + 1, len(g), float(probability[g].mean()), float(label[g].mean()))
        for i, g in enumerate(groups)
        if len(g)
    ]


def calibration_error(probability: np.ndarray, label: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: row-weighted mean |mean prediction - observed rate| over the
    equal-count bins of `calibration_table`."""
    table = calibration_table(probability, label, bins)
    total = sum(row.rows for row in table)
    return float(sum(row.rows * abs(row.mean_probability - row.observed_rate) for row in table) / total)


def evaluate(probability: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Every headline metric of a probability score on one labelled set."""
    probability = np.asarray(probability, dtype=float)
    label = np.asarray(label).astype(np.int8)
    metrics = {
        "roc_auc": roc_auc(probability, label),
        "pr_auc": pr_auc(probability, label),
        "brier": brier(probability, label),
        "calibration_error": calibration_error(probability, label),
        "positive_rate": float(label.mean()),
        "rows": float(len(label)),
    }
    for share in TOP_SHARES:
        lift, recall = top_share(probability, label, share)
        percent = int(round(share * 100))
        metrics[f"lift_at_{percent}"] = lift
        metrics[f"recall_at_{percent}"] = recall
    return metrics


BOOTSTRAPPED: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": roc_auc,
    "pr_auc": pr_auc,
    "brier": brier,
    "lift_at_10": lambda p, y: top_share(p, y, 0.10)[0],
}


def bootstrap_intervals(
    probability: np.ndarray,
    label: np.ndarray,
    resamples: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
    max_rows: int = 50_000,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of the headline metrics (rows resampled with replacement;
    sets above `max_rows` are resampled at `max_rows` and the interval narrowed by sqrt(n_s/n)
    to the full size, which keeps the cost bounded on millions of rows)."""
    probability = np.asarray(probability, dtype=float)
    label = np.asarray(label).astype(np.int8)
    rng = np.random.default_rng(seed)
    n = len(label)
    size = min(n, max_rows)
    scale = np.sqrt(size / n)
    draws: dict[str, list[float]] = {name: [] for name in BOOTSTRAPPED}
    for _ in range(resamples):
        sample = rng.integers(0, n, size)
        p, y = probability[sample], label[sample]
        if y.min() == y.max():
            continue
        for name, metric in BOOTSTRAPPED.items():
            draws[name].append(metric(p, y))
    tail = (1.0 - confidence) / 2.0
    intervals = {}
    for name, values in draws.items():
        if not values:
            continue
        centre = float(np.mean(values))
        low, high = np.quantile(values, [tail, 1.0 - tail])
        intervals[name] = (centre + (low - centre) * scale, centre + (high - centre) * scale)
    return intervals


@dataclass(frozen=True)
class GainsRow:
    decile: int
    rows: int
    conversion_rate: float
    lift: float
    cumulative_recall: float


def gains_table(score: np.ndarray, label: np.ndarray, bins: int = 10) -> list[GainsRow]:
    """Rows split into equal-count bins from the highest score down: each bin's conversion rate,
    its lift over the overall rate and the share of all positives caught down to it."""
    label = np.asarray(label, dtype=float)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    overall, positives = label.mean(), label.sum()
    rows, caught = [], 0.0
    for i, group in enumerate(np.array_split(order, min(bins, len(order)))):
        rate = float(label[group].mean())
        caught += label[group].sum()
        rows.append(GainsRow(i + 1, len(group), rate, rate / overall, float(caught / positives)))
    return rows
