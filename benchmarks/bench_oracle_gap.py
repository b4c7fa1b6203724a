"""Where the lead model's gap to the oracle comes from: the goal's model refitted on the latest
walk-forward fold with one piece of the simulator's latent state added as a feature at a time.

    .venv/bin/python benchmarks/bench_training.py --persons 50000 --work-dir /tmp/w50k
    .venv/bin/python benchmarks/bench_oracle_gap.py --warehouse /tmp/w50k/warehouse.duckdb

The warehouse must hold the weekly feature history and the truth schema (bench_training.py
--work-dir keeps one). What a latent feature adds is what the model misses of it; when all of
them together bring the model to the oracle, the rest of the gap is that latent state, not the
model. Prints ROC-AUC on the latest fold's test rows, fit time and peak memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from bench_raw import peak_rss_gib
from bench_training import oracle_probability, read_truth

from b2b_scoring.lib.ml.goal_training import feature_columns, goal_folds
from b2b_scoring.lib.ml.metrics import roc_auc
from b2b_scoring.lib.ml.models import FeatureEncoder
from b2b_scoring.lib.ml.training import fit_model
from b2b_scoring.lib.ml.training_sets import KEY_COLUMN, budgeted_training_set
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator import LEAD_CONVERSION

# Latent state of each (person, as-of date), from the truth schema (days counted from its start).
LATENT_SQL = """
with snapshots as (
    select position, person_key, as_of_date - (select start_date from truth.meta) as day
    from snapshot_keys
),
open_journeys as (
    select snapshots.position, count(*) as open_journeys
    from snapshots join truth.journeys using (person_key)
    where journeys.start_day < snapshots.day and journeys.end_day >= snapshots.day
    group by all
),
in_market as (
    select snapshots.position, count(*) as in_market_episodes
    from snapshots
    join truth.persons using (person_key)
    join truth.episodes on episodes.account_key = persons.true_account_key
    where episodes.start_day < snapshots.day and episodes.start_day >= snapshots.day - 60
    group by all
)
select
    persons.conversion_probability,
    persons.own_journeys_per_day,
    persons.committee_probability,
    accounts.fit as account_fit,
    coalesce(open_journeys.open_journeys, 0) as open_journeys,
    coalesce(in_market.in_market_episodes, 0) as in_market_episodes
from snapshots
join truth.persons using (person_key)
join truth.accounts on accounts.account_key = persons.true_account_key
left join open_journeys using (position)
left join in_market using (position)
order by snapshots.position
"""
LATENT_SETS = {
    "none (the pipeline's features)": (),
    "conversion probability (fit x persona x noise)": ("conversion_probability",),
    "account fit": ("account_fit",),
    "research rate": ("own_journeys_per_day",),
    "open journeys": ("open_journeys",),
    "in-market episode + committee probability": ("in_market_episodes", "committee_probability"),
    "all of the above": (
        "conversion_probability",
        "account_fit",
        "own_journeys_per_day",
        "open_journeys",
        "in_market_episodes",
        "committee_probability",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    goal = next(g for g in settings.goals().goals if g.name == LEAD_CONVERSION)

    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        table, _, _ = budgeted_training_set(con, goal, settings.max_training_rows)
        truth = read_truth(con)
        keys = table.select([KEY_COLUMN[goal.entity], "as_of_date"])
        con.register("snapshot_keys", keys.append_column("position", pa.array(np.arange(keys.num_rows))))
        latent = con.sql(LATENT_SQL).to_arrow_table()
    for name in latent.column_names:
        table = table.append_column(f"latent_{name}", latent[name])

    label = table["label"].to_numpy().astype(np.int8)
    groups = table[KEY_COLUMN[goal.entity]].to_numpy(zero_copy_only=False)
    weight = table["sample_weight"].to_numpy()
    latest = goal_folds(table, goal)[-1]
    test = np.flatnonzero(latest.test)
    oracle = oracle_probability(
        truth, table.take(pa.array(test)), KEY_COLUMN[goal.entity], goal.name, goal.prediction_window_days
    )
    observable = [c for c in feature_columns(table, goal) if not c.startswith("latent_")]
    encoded = FeatureEncoder.fit(table, [*observable, *(f"latent_{n}" for n in latent.column_names)])
    encoded_matrix = encoded.matrix(table)
    observable_numeric = [n for n in encoded.numeric if not n.startswith("latent_")]
    print(
        f"{goal.name}: latest fold from {latest.cutoff}, {int(latest.train.sum()):,} training and "
        f"{len(test):,} test rows ({int(label[test].sum()):,} positives); "
        f"oracle ROC-AUC {roc_auc(oracle, label[test]):.4f}",
        flush=True,
    )
    for description, names in LATENT_SETS.items():
        began = time.perf_counter()
        encoder = FeatureEncoder((*observable_numeric, *(f"latent_{n}" for n in names)), encoded.categories)
        matrix = encoded_matrix[:, [encoded.names.index(n) for n in encoder.names]]
        train = latest.train
        trained = fit_model(
            goal.algorithm, matrix[train], label[train], groups[train], encoder, sample_weight=weight[train]
        )
        probability = trained.probability_of_matrix(matrix[test])
        print(
            f"    + {description:<48} ROC-AUC {roc_auc(probability, label[test]):.4f}  "
            f"({time.perf_counter() - began:.0f} s, peak RSS {peak_rss_gib():.2f} GiB)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
