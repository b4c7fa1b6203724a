"""Benchmark daily scoring with influential factors and change drivers.

    .venv/bin/python benchmarks/bench_scoring.py --persons 1000000 [--warehouse data/warehouse.duckdb]

Takes the lead goal's champion model and one day of person features from a warehouse (the
demo's by default), replicates the rows up to N persons (new keys, jittered into distinct
profiles), and times each step of scoring one goal and day: features read, exact TreeSHAP (fast),
all of score_records (probability, score, percentile, tier, factors and phrases, change drivers
against the previous day), writing scores.person_scores, CRM export. For comparison it also
times LightGBM's own pred_contrib on a sample. Prints seconds, rows/s and peak memory.
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
from bench_raw import peak_rss_gib

from b2b_scoring.lib.ml.registry import champion, load_model
from b2b_scoring.lib.scoring.scores import score_records, shadow_scores
from b2b_scoring.lib.scoring.store import export_changes, write_scores, write_shadow_scores
from b2b_scoring.lib.settings import Settings


def replicated(table: pa.Table, rows: int, jitter: bool, seed: int) -> pa.Table:
    """`rows` persons from the day's rows; with jitter every copy is a new person: numbers scaled
    by random factors, categories shuffled within their column (more distinct profiles than real
    data, so a conservative test of the pattern grouping)."""
    copies = -(-rows // table.num_rows)
    big = pa.concat_tables([table] * copies).slice(0, rows)
    keys = pc.binary_join_element_wise("P-", pa.array(np.arange(rows).astype(str)), "")
    big = big.set_column(big.schema.get_field_index("person_key"), "person_key", keys)
    if not jitter:
        return big
    rng = np.random.default_rng(seed)
    for index, field in enumerate(big.schema):
        if field.name in ("person_key", "as_of_date", "account_key", "has_converted"):
            continue
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            values = big[field.name].to_numpy(zero_copy_only=False).astype(float)
            scaled = np.round(values * rng.lognormal(0, 0.5, rows))
            big = big.set_column(index, field.name, pa.array(scaled, pa.float64()))
        elif pa.types.is_string(field.type):
            big = big.set_column(index, field.name, big[field.name].take(pa.array(rng.permutation(rows))))
    return big


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--warehouse", type=Path, default=Settings.from_env().warehouse_path)
    parser.add_argument("--goal", default="lead_conversion")
    parser.add_argument(
        "--no-jitter", dest="jitter", action="store_false", help="plain copies of the day's persons"
    )
    args = parser.parse_args(argv)
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        model_row = champion(con, args.goal)
        if model_row is None:
            raise SystemExit(f"{args.warehouse}: goal {args.goal} has no champion model (run `make demo`)")
        last = con.sql("select max(as_of_date) from features.person_features").fetchall()[0][0]
        day = lambda d: con.sql(  # noqa: E731
            "select * from features.person_features where as_of_date = $d and not has_converted "
            "order by person_key",
            params={"d": d},
        ).to_arrow_table()
        today_source, before_source = day(last), day(last - dt.timedelta(days=1))
    trained = load_model(model_row["artifact_path"])
    boosters = [member.booster for member in getattr(trained.model, "members", (trained.model,))]
    today = replicated(today_source, args.persons, args.jitter, seed=1)
    before = replicated(before_source, args.persons, args.jitter, seed=2)
    print(
        f"{args.persons:,} persons x {len(trained.encoder.names)} features, model v{model_row['version']} "
        f"({' + '.join(str(b.num_trees()) for b in boosters)} trees), score date {last}"
    )
    with duckdb.connect() as con:
        con.execute("create table person_features as select * from today")
        began = time.perf_counter()
        today = con.sql("select * from person_features order by person_key").to_arrow_table()
        read = time.perf_counter() - began
    print(f"read one day of features       {read:7.2f} s")
    began = time.perf_counter()
    matrix = trained.encoder.matrix(today)
    encode = time.perf_counter() - began
    began = time.perf_counter()
    trained.model.contributions(matrix)
    shap = time.perf_counter() - began
    sample = matrix[:20_000]
    began = time.perf_counter()
    for booster in boosters:
        booster.predict(sample, pred_contrib=True, num_iteration=booster.best_iteration)
    native = len(sample) / (time.perf_counter() - began)
    print(f"encode features                {encode:7.2f} s")
    print(f"exact TreeSHAP (pattern groups) {shap:7.2f} s  {args.persons / shap:>10,.0f} rows/s")
    print(
        f"LightGBM pred_contrib (sample)            {native:>10,.0f} rows/s "
        f"(~{args.persons / native:,.0f} s for all)"
    )
    began = time.perf_counter()
    scored = score_records(
        trained, today, "person_key", Settings.from_env().goals().get(args.goal).scoring, before
    )
    scoring = time.perf_counter() - began
    print(
        f"score_records (all steps)      {scoring:7.2f} s  {args.persons / scoring:>10,.0f} rows/s  "
        f"peak RSS {peak_rss_gib():.2f} GiB"
    )
    # A challenger costs what the champion model costs without explanations: the champion stands in.
    began = time.perf_counter()
    shadow = shadow_scores(trained, today, "person_key", Settings.from_env().goals().get(args.goal).scoring)
    shadowing = time.perf_counter() - began
    print(f"shadow scores (a challenger)   {shadowing:7.2f} s  {args.persons / shadowing:>10,.0f} rows/s")
    with (
        tempfile.TemporaryDirectory(prefix="bench_scoring_") as tmp,
        duckdb.connect(f"{tmp}/w.duckdb") as con,
    ):
        began = time.perf_counter()
        written = write_scores(con, "person", args.goal, last, 1, scored, dt.datetime.now())
        write = time.perf_counter() - began
        began = time.perf_counter()
        rows, _, _ = export_changes(con, "person", args.goal, last, Path(tmp) / "crm")
        export = time.perf_counter() - began
        began = time.perf_counter()
        write_shadow_scores(con, "person", args.goal, last, 2, shadow)
        shadow_write = time.perf_counter() - began
    print(f"write scores.person_scores     {write:7.2f} s  ({written.rows:,} rows)")
    print(f"CRM export (CSV + Parquet)     {export:7.2f} s  ({rows:,} rows)")
    print(f"write scores.shadow_scores     {shadow_write:7.2f} s  ({shadow.num_rows:,} rows)")
    total = read + scoring + write + export
    print(
        f"total {total:.1f} s for {args.persons:,} persons: {args.persons / total:,.0f} rows/s, "
        f"peak RSS {peak_rss_gib():.2f} GiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
