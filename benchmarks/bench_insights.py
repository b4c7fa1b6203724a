"""Benchmark the insights: account intent, personas and look-alikes for one as-of date and a week.

    .venv/bin/python benchmarks/bench_insights.py --persons 1000000
    .venv/bin/python benchmarks/bench_insights.py --warehouse /path/warehouse.duckdb   # reuse one

Without --warehouse it builds the raw tables of a simulated world (bench_raw.py) and the dbt
staging layer (views, profile snapshots) first. Each insight reads the staging views (the events
are aggregated per person and day on the fly), like the Dagster assets; the look-alike seeds are
the Closed Won accounts. Prints the wall time, accounts per second and the peak memory of the
process for each.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from bench_features import run_dbt
from bench_raw import main as build_raw_tables
from bench_raw import peak_rss_gib

from b2b_scoring.lib.dbt_args import DAILY_PARTITIONED_SELECTOR, build_dbt_args
from b2b_scoring.lib.insights.intent import write_account_intent
from b2b_scoring.lib.insights.lookalike import write_account_lookalike
from b2b_scoring.lib.insights.personas import write_personas
from b2b_scoring.lib.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument(
        "--warehouse", type=Path, help="a warehouse with the staging layer (default: build one)"
    )
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB memory_limit")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_insights_") as tmp:
        warehouse = args.warehouse
        settings = Settings.from_env()
        if warehouse is None:
            build_raw_tables(["--persons", str(args.persons), "--work-dir", tmp])
            warehouse = Path(tmp) / "warehouse.duckdb"
            base = build_dbt_args(settings, warehouse)
            run_dbt(
                "staging, seeds, snapshots",
                [*base, "--exclude", DAILY_PARTITIONED_SELECTOR, "path:models/features/history"],
                Path(tmp) / "target",
            )
        with duckdb.connect(str(warehouse)) as con:
            con.execute(f"SET memory_limit = '{args.memory_limit}'")
            accounts, last_event = con.execute(
                "SELECT (SELECT count(*) FROM staging.stg_accounts), max(timestamp) "
                "FROM raw.experience_events"
            ).fetchall()[0]
            as_of = last_event.date() + datetime.timedelta(days=1)
            week = as_of - datetime.timedelta(days=6)
            print(f"warehouse {warehouse}: {accounts:,} accounts; as-of date {as_of}")
            config = settings.insights()
            writers: dict[str, Callable[[datetime.date, datetime.date], object]] = {
                "intent": lambda first, last: write_account_intent(con, first, last, config.intent),
                "personas (+ learned importance)": lambda first, last: write_personas(
                    con, first, last, config
                ),
                "look-alike (Closed Won seeds)": lambda first, last: write_account_lookalike(
                    con, first, last, config.lookalike
                ),
            }
            for name, write in writers.items():
                for first, label in ((as_of, "1 day"), (week, "7 days")):
                    began = time.perf_counter()
                    write(first, as_of)
                    seconds = time.perf_counter() - began
                    days = (as_of - first).days + 1
                    print(
                        f"{name:<34} {label:>6}: {seconds:7.2f} s, "
                        f"{accounts * days / seconds:>10,.0f} account-days/s; "
                        f"peak RSS {peak_rss_gib():.2f} GiB"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
