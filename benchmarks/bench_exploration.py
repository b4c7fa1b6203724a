"""What the exploration slice does to retraining when only worked leads get labels.

    .venv/bin/python benchmarks/bench_exploration.py [--warehouse data/warehouse.duckdb] [--key-share 0.5]

A selective-labels experiment on the lead goal's weekly snapshots of a warehouse (the demo's by
default). A serving model, trained on the first 30% of the as-of dates, tiers the leads of the
next 35% of the dates; sales work tiers A and B, so only their labels come back (dispositions as
labels, or conversions only after contact). Three retrained models learn from those dates:
- worked only: the rows of tiers A and B;
- worked + exploration: plus the goal's exploration slice of tier C (the fixed random share the
  scores route to sales anyway);
- all labelled: every row (the ceiling no deployment has).
All three are evaluated on the last dates (after a prediction-window gap) on every lead, and
within the leads the serving model put in tier C: ROC-AUC and the ratio of predicted to realized
conversions (1 = calibrated; below 1 = the model under-scores them). Prints the figures, the
rows each model learnt from, seconds and peak memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from bench_raw import peak_rss_gib

from b2b_scoring.lib.ml.goal_training import feature_columns
from b2b_scoring.lib.ml.metrics import roc_auc
from b2b_scoring.lib.ml.models import FeatureEncoder
from b2b_scoring.lib.ml.training import TrainedModel, fit_model
from b2b_scoring.lib.ml.training_sets import Sampling, data_span, training_set
from b2b_scoring.lib.scoring.scores import LOWEST_TIER, exploration_slice, score_from_probability, tiers
from b2b_scoring.lib.settings import Settings

SERVING_SHARE, RETRAINING_SHARE = 0.30, 0.65


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=Settings.from_env().warehouse_path)
    parser.add_argument("--goal", default="lead_conversion")
    parser.add_argument("--key-share", type=float, default=0.5, help="share of the leads to use")
    parser.add_argument("--exploration-share", type=float, help="default: the goal's")
    args = parser.parse_args(argv)
    goal = Settings.from_env().goals().get(args.goal)
    share = goal.scoring.exploration_share if args.exploration_share is None else args.exploration_share
    policy = dataclasses.replace(goal.scoring, exploration_share=share)
    began = time.perf_counter()
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        table = training_set(con, goal, data_span(con, goal), Sampling.of_keys(args.key_share))
    dates = np.unique(table["as_of_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]"))
    serving_end = dates[int(len(dates) * SERVING_SHARE)]
    test_start = dates[int(len(dates) * RETRAINING_SHARE)]
    retraining_end = test_start - np.timedelta64(goal.prediction_window_days, "D")
    as_of = table["as_of_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    label = table["label"].to_numpy().astype(np.int8)
    keys = table["person_key"].to_numpy(zero_copy_only=False)
    encoder = FeatureEncoder.fit(table, feature_columns(table, goal))
    matrix = encoder.matrix(table)
    print(
        f"{table.num_rows:,} weekly snapshots of {len(np.unique(keys)):,} leads, {len(dates)} as-of dates; "
        f"serving model < {serving_end}, retraining [{serving_end}, {retraining_end}), test >= {test_start}; "
        f"exploration share {share:.1%} ({time.perf_counter() - began:.1f} s)"
    )

    def fit(rows: np.ndarray) -> TrainedModel:
        return fit_model("lightgbm", matrix[rows], label[rows], keys[rows], encoder)

    serving_rows = as_of < serving_end
    retraining_rows = (as_of >= serving_end) & (as_of < retraining_end)
    test_rows = as_of >= test_start
    serving = fit(serving_rows)

    def tier_of(rows: np.ndarray) -> np.ndarray:
        probability = serving.probability_of_matrix(matrix[rows])
        score = score_from_probability(probability, serving.base_rate or float(label[serving_rows].mean()))
        return tiers(score, probability, keys[rows], policy)

    retraining_tier = tier_of(retraining_rows)
    explored = exploration_slice(retraining_tier, pa.array(keys[retraining_rows]), policy)
    worked = retraining_tier < LOWEST_TIER
    positions = np.flatnonzero(retraining_rows)
    policies = {
        "worked only": positions[worked],
        "worked + exploration": positions[worked | explored],
        "all labelled": positions,
    }
    test_tier_c = tier_of(test_rows) == LOWEST_TIER
    test_label = label[test_rows]
    print(
        f"retraining rows: {len(positions):,}, worked (tiers A, B) {worked.sum():,}, exploration slice "
        f"{explored.sum():,} ({explored.sum() / max(np.sum(retraining_tier == LOWEST_TIER), 1):.2%} "
        "of tier C); "
        f"test rows {test_rows.sum():,} ({test_tier_c.sum():,} in the serving model's tier C, "
        f"{test_label[test_tier_c].sum():,} of them convert)"
    )
    print(
        f"{'retrained on':<22} {'rows':>10} {'positives':>10} {'ROC-AUC':>8} {'tier C AUC':>10} "
        f"{'tier C pred/real':>16}"
    )
    for name, chosen in policies.items():
        rows = np.zeros(len(label), dtype=bool)
        rows[chosen] = True
        started = time.perf_counter()
        model = fit(rows)
        probability = model.probability_of_matrix(matrix[test_rows])
        low = probability[test_tier_c]
        realized = test_label[test_tier_c].sum()
        calibration = low.sum() / realized if realized else float("nan")
        print(
            f"{name:<22} {rows.sum():>10,} {label[rows].sum():>10,} {roc_auc(probability, test_label):>8.4f} "
            f"{roc_auc(low, test_label[test_tier_c]):>10.4f} "
            f"{calibration:>16.2f}   ({time.perf_counter() - started:.1f} s)"
        )
    print(f"total {time.perf_counter() - began:.1f} s, peak RSS {peak_rss_gib():.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
