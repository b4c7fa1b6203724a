"""Benchmark per-goal training: labelled weekly snapshots, walk-forward backtest (model, logistic
regression, points baseline), final calibrated model; compared with the simulator's oracle.

    .venv/bin/python benchmarks/bench_training.py --persons 1000000
    .venv/bin/python benchmarks/bench_training.py --warehouse data/warehouse.duckdb   # e.g. the demo's
    .venv/bin/python benchmarks/bench_training.py --persons 50000 --work-dir /tmp/w50k   # keep it

Without --warehouse it builds one: raw tables and ground truth of a simulated two-year world
(bench_raw.py), lead-to-account matching (as the pipeline runs it before features: unlinked
persons get their account's features), then the dbt staging models and the weekly feature
history. For each goal it prints the time to read the training set and to train (backtest +
final fit), peak resident memory, and the backtest metrics next to the oracle's (the simulator's
true probabilities scored on the same test rows). Above B2B_SCORING_MAX_TRAINING_ROWS labelled
snapshots a goal trains on its positives and a weighted share of its negatives and is tested on a
share of its keys, as the pipeline does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bench_features import catch_up_history, run_dbt
from bench_raw import main as build_raw_tables
from bench_raw import peak_rss_gib

from b2b_scoring.lib.dbt_args import DAILY_PARTITIONED_SELECTOR, build_dbt_args, history_weeks_per_run
from b2b_scoring.lib.matching import MatchConfig
from b2b_scoring.lib.matching.store import run_matching
from b2b_scoring.lib.ml.goal_training import train_goal
from b2b_scoring.lib.ml.metrics import calibration_error, roc_auc
from b2b_scoring.lib.ml.training_sets import (
    KEY_COLUMN,
    budgeted_training_set,
)
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator.truth import true_conversion_probability
from b2b_scoring.lib.world_landing import load_truth_tables


def oracle_probability(
    truth: dict[str, pa.Table], test: pa.Table, key: str, goal: str, window: int
) -> np.ndarray:
    """The true probability of each test row (NaN where the oracle has no row for it)."""
    oracle = np.full(test.num_rows, np.nan)
    dates = test["as_of_date"].to_numpy(zero_copy_only=False)
    for as_of in np.unique(dates):
        truth_rows = true_conversion_probability(truth, as_of, window, goal)
        rows = np.flatnonzero(dates == as_of)
        position = pc.index_in(test[key].take(pa.array(rows)), value_set=truth_rows[key])
        found = position.is_valid().to_numpy(zero_copy_only=False)
        oracle[rows[found]] = truth_rows["probability"].to_numpy()[
            position.filter(position.is_valid()).to_numpy()
        ]
    return oracle


def read_truth(con: duckdb.DuckDBPyConnection) -> dict[str, pa.Table]:
    """Every table of the warehouse's truth schema, by name."""
    return {
        name: con.sql(f"select * from truth.{name}").to_arrow_table()
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'truth'"
        ).fetchall()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--warehouse", type=Path, help="a warehouse with feature history and truth")
    parser.add_argument("--goal", action="append", help="only these goals (default: all)")
    parser.add_argument(
        "--work-dir", type=Path, help="build and keep the warehouse here (reuse it with --warehouse)"
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()

    with tempfile.TemporaryDirectory(prefix="bench_training_") as scratch:
        work_dir = args.work_dir or Path(scratch)
        warehouse = args.warehouse
        if warehouse is None:
            build_raw_tables(["--persons", str(args.persons), "--work-dir", str(work_dir)])
            warehouse = work_dir / "warehouse.duckdb"
            with duckdb.connect(str(warehouse)) as con:
                load_truth_tables(con, work_dir / "landing")
                run_matching(con, dt.date.today(), MatchConfig.from_settings(settings))
            weeks = history_weeks_per_run(args.persons)
            base = build_dbt_args(settings, warehouse, history_weeks_per_run=weeks)
            target = work_dir / "target"
            run_dbt(
                "staging + weekly feature history", [*base, "--exclude", DAILY_PARTITIONED_SELECTOR], target
            )
            catch_up_history(settings, warehouse, weeks, target)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            truth = read_truth(con)
            for goal in settings.goals().goals:
                if args.goal and goal.name not in args.goal:
                    continue
                began = time.perf_counter()
                table, summary, sampling = budgeted_training_set(con, goal, settings.max_training_rows)
                loaded = time.perf_counter()
                training = train_goal(table, goal)
                trained = time.perf_counter()
                report = training.backtest
                test = table.take(pa.array(report.test_rows))
                key = KEY_COLUMN[goal.entity]
                oracle = oracle_probability(truth, test, key, goal.name, goal.prediction_window_days)
                known = ~np.isnan(oracle)
                label = report.label[known]
                print(
                    f"{goal.name}: {summary.rows:,} labelled snapshots, "
                    f"trained on {training.training_rows:,} "
                    f"(shares of positives {sampling.positive_share:.3f}, negatives "
                    f"{sampling.negative_share:.3f}; tested on a key share of "
                    f"{sampling.evaluation_key_share:.3f}); read {loaded - began:.1f} s, "
                    f"backtest + final fit {trained - loaded:.1f} s; peak RSS {peak_rss_gib():.2f} GiB"
                )
                print(
                    f"    test rows {len(report.label):,} ({int(report.label.sum()):,} positives), "
                    f"oracle covers {known.mean():.3f}; class weighting {report.class_weighting}"
                )
                print(
                    f"    {'oracle':<20} ROC-AUC {roc_auc(oracle[known], label):.4f}  "
                    f"calibration error {calibration_error(oracle[known], label):.4f}"
                )
                for name, result in report.candidates.items():
                    metrics = result.metrics
                    print(
                        f"    {name:<20} ROC-AUC {roc_auc(result.probability[known], label):.4f}  "
                        f"PR-AUC {metrics['pr_auc']:.4f}  lift@10% {metrics['lift_at_10']:.2f}  "
                        f"calibration error {metrics['calibration_error']:.4f}  ({result.calibration_method})"
                    )
                print(f"    top fields: {', '.join(f.field for f in training.importance[:6])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
