"""Backtest results as Markdown for the Dagster UI: the candidates side by side with intervals,
the folds, and the calibration and lift tables with inline bars as their plots."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from b2b_scoring.lib.ml.backtest import BacktestReport, CandidateResult
from b2b_scoring.lib.ml.goal_training import FieldImportance
from b2b_scoring.lib.sql import markdown_table

BAR_WIDTH = 30


def bar(value: float, scale: float) -> str:
    """A horizontal bar of `value` on a 0..scale axis, in block characters."""
    cells = 0 if scale <= 0 else round(BAR_WIDTH * min(max(value / scale, 0.0), 1.0))
    return "█" * cells or "·"


def _with_interval(result: CandidateResult, metric: str, digits: int = 4) -> str:
    value = f"{result.metrics[metric]:.{digits}f}"
    if metric in result.intervals:
        low, high = result.intervals[metric]
        value += f" ({low:.{digits}f}–{high:.{digits}f})"
    return value


def backtest_markdown(report: BacktestReport) -> str:
    """One row per candidate (the goal's model first), metrics with 95% bootstrap intervals."""
    header = ["model", "ROC-AUC", "PR-AUC", "lift@10%", "recall@10%", "lift@20%", "recall@20%", "Brier",
              "calibration error", "calibration"]  # fmt: skip
    rows = [
        [
            name,
            _with_interval(result, "roc_auc"),
            _with_interval(result, "pr_auc"),
            _with_interval(result, "lift_at_10", 2),
            f"{result.metrics['recall_at_10']:.3f}",
            f"{result.metrics['lift_at_20']:.2f}",
            f"{result.metrics['recall_at_20']:.3f}",
            _with_interval(result, "brier"),
            f"{result.metrics['calibration_error']:.4f}",
            result.calibration_method,
        ]
        for name, result in report.candidates.items()
    ]
    rows_note = f"\n\n{len(report.label):,} test rows, {len(report.folds)} folds; 95% bootstrap intervals."
    return markdown_table(header, rows) + rows_note


def folds_markdown(report: BacktestReport) -> str:
    names = list(report.candidates)
    header = [
        "fold",
        "cut-off",
        "train rows",
        "test rows",
        "test positives",
        *[f"{n} ROC-AUC" for n in names],
    ]
    rows = [
        [
            fold["fold"], fold["cutoff"] or "", f"{fold['train_rows']:,}", f"{fold['test_rows']:,}",
            f"{fold['test_positives']:,}",
            *[f"{report.candidates[n].fold_metrics[i]['roc_auc']:.4f}" for n in names],
        ]
        for i, fold in enumerate(report.folds)
    ]  # fmt: skip
    return markdown_table(header, rows)


def calibration_markdown(result: CandidateResult) -> str:
    """Predicted vs observed conversion rate per probability decile (bars share one axis)."""
    scale = max(max(r.mean_probability, r.observed_rate) for r in result.calibration)
    rows = [
        [r.bin, f"{r.rows:,}", f"{r.mean_probability:.4f}", f"{r.observed_rate:.4f}",
         f"`{bar(r.mean_probability, scale)}`", f"`{bar(r.observed_rate, scale)}`"]
        for r in result.calibration
    ]  # fmt: skip
    return markdown_table(
        ["decile", "rows", "predicted", "observed", "predicted (plot)", "observed (plot)"], rows
    )


def gains_markdown(result: CandidateResult) -> str:
    """Lift and cumulative recall from the top-scored decile down."""
    scale = max(r.lift for r in result.gains)
    rows = [
        [r.decile, f"{r.rows:,}", f"{r.conversion_rate:.4f}", f"{r.lift:.2f}", f"`{bar(r.lift, scale)}`",
         f"{r.cumulative_recall:.3f}"]
        for r in result.gains
    ]  # fmt: skip
    return markdown_table(
        ["decile (top first)", "rows", "conversion rate", "lift", "lift (plot)", "cumulative recall"], rows
    )


def importance_markdown(importance: Sequence[FieldImportance], top: int = 20) -> str:
    """Share of mean |SHAP| and of gain per business field."""
    rows = [
        [
            f.field,
            "" if f.shap_share is None else f"{f.shap_share:.3f}",
            f"`{bar(f.shap_share if f.shap_share is not None else f.gain_share, 1.0)}`",
            f"{f.gain_share:.3f}",
            ", ".join(f.features),
        ]
        for f in importance[:top]
    ]
    return markdown_table(["business field", "mean |SHAP| share", "plot", "gain share", "features"], rows)


def score_distribution_markdown(scores: np.ndarray) -> str:
    """Records per band of ten score points (90-100 last), with bars on one axis."""
    counts = np.bincount(np.minimum(np.asarray(scores, dtype=int) // 10, 9), minlength=10)
    top = max(int(counts.max()), 1)
    return markdown_table(
        ["score", "records", "share", "plot"],
        [
            [
                f"{10 * band}-{10 * band + (10 if band == 9 else 9)}",
                f"{count:,}",
                f"{count / max(counts.sum(), 1):.1%}",
                f"`{bar(count, top)}`",
            ]
            for band, count in enumerate(counts)
        ],
    )
