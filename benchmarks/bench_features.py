"""Benchmark the dbt feature layer: person and account features for one as-of date.

    .venv/bin/python benchmarks/bench_features.py --persons 1000000
    .venv/bin/python benchmarks/bench_features.py --warehouse /path/warehouse.duckdb   # reuse one
    .venv/bin/python benchmarks/bench_features.py --persons 100000 --history          # + weekly history

Without --warehouse it first builds the raw tables from a simulated world with bench_raw.py
(1M persons give about 20M experience events). Then it runs dbt as Dagster does: the
unpartitioned models (staging views, seeds, profile snapshots), then the daily feature tables for
one as-of date, and prints for each dbt invocation its wall time split into the time DuckDB spent
in the models and in the dbt tests (run_results.json) and the rest (dbt's own overhead: start-up,
parsing, compiling), plus the peak resident memory of the dbt processes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from bench_raw import main as build_raw_tables

from b2b_scoring.lib.dbt_args import (
    DAILY_PARTITIONED_SELECTOR,
    build_dbt_args,
    history_weeks_per_run,
    run_dbt_outside_dagster,
)
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.weekly_history import catch_up_weekly_history

HISTORY_SELECTOR = "path:models/features/history"


def children_peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def run_dbt(label: str, args: list[str], target: Path) -> None:
    began = time.perf_counter()
    completed = run_dbt_outside_dagster(args, target)
    wall = time.perf_counter() - began
    if completed.returncode != 0:
        print(completed.stdout[-5000:], file=sys.stderr)
        raise SystemExit(f"dbt failed: {label}")
    results = json.loads((target / "run_results.json").read_text())["results"]
    models = {
        r["unique_id"].split(".")[-1]: r["execution_time"]
        for r in results
        if r["unique_id"].startswith(("model.", "snapshot.", "seed."))
    }
    in_models = sum(models.values())
    in_tests = sum(r["execution_time"] for r in results if r["unique_id"].startswith("test."))
    overhead = wall - in_models - in_tests
    print(
        f"{label:<42} wall {wall:6.2f} s = models {in_models:6.2f} s + tests {in_tests:5.2f} s"
        f" + dbt overhead {overhead:5.2f} s; peak RSS (dbt) {children_peak_rss_gib():.2f} GiB"
    )
    for name, seconds in sorted(models.items(), key=lambda item: -item[1])[:4]:
        print(f"    {name:<40} {seconds:7.2f} s")


def catch_up_history(settings: Settings, warehouse: Path, weeks: int, target: Path) -> int:
    """The further dbt runs of the weekly history (timed each) until it is complete."""
    return catch_up_weekly_history(
        lambda history_args: run_dbt("weekly history, next Mondays", history_args, target),
        settings,
        warehouse,
        weeks,
        print,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--warehouse", type=Path, help="a warehouse with raw tables (default: build one)")
    parser.add_argument("--history", action="store_true", help="also build the weekly feature history")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        warehouse = args.warehouse
        if warehouse is None:
            build_raw_tables(["--persons", str(args.persons), "--work-dir", tmp])
            warehouse = Path(tmp) / "warehouse.duckdb"
        with duckdb.connect(str(warehouse), read_only=True) as con:
            persons, events, last_event = con.execute(
                "select (select count(*) from raw.persons), count(*), max(timestamp) "
                "from raw.experience_events"
            ).fetchall()[0]
        as_of = last_event.date() + datetime.timedelta(days=1)
        print(f"warehouse {warehouse}: {persons:,} persons, {events:,} events; as-of date {as_of}")

        settings = Settings.from_env()
        window = (as_of.isoformat(), (as_of + datetime.timedelta(days=1)).isoformat())
        base = build_dbt_args(settings, warehouse, as_of=window)
        target = Path(tmp) / "target"
        run_dbt(
            "staging, seeds, snapshots (first build)",
            [*base, "--exclude", DAILY_PARTITIONED_SELECTOR, HISTORY_SELECTOR],
            target,
        )
        run_dbt(
            "daily features, one as-of date (+ tests)",
            [*base, "--select", DAILY_PARTITIONED_SELECTOR],
            target,
        )
        run_dbt(
            "daily features again (idempotent rerun)", [*base, "--select", DAILY_PARTITIONED_SELECTOR], target
        )
        if args.history:
            weeks = history_weeks_per_run(persons)
            began = time.perf_counter()
            limited = build_dbt_args(settings, warehouse, as_of=window, history_weeks_per_run=weeks)
            run_dbt(
                f"weekly history, first {weeks} Mondays", [*limited, "--select", HISTORY_SELECTOR], target
            )
            runs = catch_up_history(settings, warehouse, weeks, target)
            with duckdb.connect(str(warehouse), read_only=True) as con:
                rows, mondays = con.execute(
                    "select count(*), count(distinct as_of_date) from features.person_feature_history"
                ).fetchall()[0]
            print(
                f"weekly feature history (first build): {time.perf_counter() - began:.1f} s in {runs + 1} "
                f"dbt runs, {mondays} Mondays, {rows:,} person rows; "
                f"peak RSS (dbt) {children_peak_rss_gib():.2f} GiB"
            )
        with duckdb.connect(str(warehouse), read_only=True) as con:
            for table in ("person_features", "account_features"):
                rows, columns = con.execute(
                    f"select count(*), (select count(*) from information_schema.columns "
                    f"where table_schema = 'features' and table_name = '{table}') "
                    f"from features.{table} where as_of_date = ?",
                    [as_of],
                ).fetchall()[0]
                print(f"features.{table}: {rows:,} rows x {columns} columns for {as_of}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
