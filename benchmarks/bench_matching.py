"""Benchmark lead-to-account matching as the daily asset runs it.

    .venv/bin/python benchmarks/bench_matching.py --persons 4000000 --accounts 100000

A child process simulates the persons and accounts of a world (about a quarter of the persons are
known but unlinked) into raw.persons / raw.accounts of a fresh warehouse, so the peak memory printed
is the matcher's alone. Then: a full run of `run_matching` (fit on linked persons, validate, match
every known unlinked person, write the matching tables), precision and recall against the
simulator's true accounts, and an incremental run after 1% of the profiles changed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import tempfile
import time
from pathlib import Path

import duckdb
from bench_raw import peak_rss_gib

from b2b_scoring.lib.matching import MatchConfig
from b2b_scoring.lib.matching.evaluation import evaluate_matches
from b2b_scoring.lib.matching.store import run_matching
from b2b_scoring.lib.settings import DEFAULT_DUCKDB_MEMORY_LIMIT
from b2b_scoring.lib.simulator import SimulationConfig, simulate_profiles

MATCH_DATE = dt.date(2025, 6, 30)


def write_world(warehouse: Path, persons: int, accounts: int, seed: int) -> None:
    world = simulate_profiles(SimulationConfig(n_persons=persons, n_accounts=accounts, seed=seed))
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE SCHEMA truth")
        for schema, name, table in (
            ("raw", "persons", world.tables["persons"]),
            ("raw", "accounts", world.tables["accounts"]),
            ("truth", "persons", world.truth["persons"]),
        ):
            con.register("_table", table)
            con.execute(f"CREATE TABLE {schema}.{name} AS SELECT * FROM _table")
            con.unregister("_table")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=400_000, help="persons in the world")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--memory-limit", default=DEFAULT_DUCKDB_MEMORY_LIMIT, help="DuckDB memory_limit")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_matching_") as folder:
        warehouse = Path(folder) / "warehouse.duckdb"
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=write_world, args=(warehouse, args.persons, args.accounts, args.seed)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"simulating the world failed (exit code {child.exitcode})")
        print(
            f"world: {args.persons:,} persons, {args.accounts:,} accounts "
            f"in {time.perf_counter() - started:.1f} s"
        )

        with duckdb.connect(str(warehouse), config={"memory_limit": args.memory_limit}) as con:
            started = time.perf_counter()
            full = run_matching(con, MATCH_DATE, MatchConfig())
            seconds = time.perf_counter() - started
            known = full.persons_by_class["known"]
            print(
                f"full run: {known:,} known unlinked persons in {seconds:.1f} s "
                f"({known / seconds:,.0f} persons/s), peak RSS {peak_rss_gib():.2f} GiB "
                f"(DuckDB memory_limit {args.memory_limit})"
            )
            print(f"  persons by class: {full.persons_by_class}")
            print(f"  decisions: {full.decisions}")
            model = full.model
            print(
                f"  threshold {model.threshold:.4f} ({model.threshold_source}); validation precision "
                f"{model.validation['precision']:.4f}, recall {model.validation['recall']:.4f} on "
                f"{int(model.validation['persons']):,} held-out linked persons"
            )
            quality = evaluate_matches(
                con,
                "SELECT person_key, true_account_key FROM truth.persons WHERE link_class = 'known_unlinked'",
                "matching.match_decisions",
            )
            print(
                f"  against the truth: precision {quality['precision']:.4f}, recall {quality['recall']:.4f}, "
                f"F1 {quality['f1']:.4f} ({quality['matched']:,} matched of {quality['persons']:,})"
            )

            con.execute(
                "UPDATE raw.persons SET company_name = upper(company_name) "
                "WHERE hash(person_key) % 100 = 0 AND company_name IS NOT NULL"
            )
            started = time.perf_counter()
            incremental = run_matching(con, MATCH_DATE + dt.timedelta(days=1), MatchConfig())
            seconds = time.perf_counter() - started
            print(
                f"incremental run: {incremental.persons_rematched:,} changed persons re-matched "
                f"in {seconds:.1f} s, "
                f"peak RSS {peak_rss_gib():.2f} GiB"
            )


if __name__ == "__main__":
    main()
