"""Benchmark landing-file ingestion with all row checks and the raw-table quality checks.

    .venv/bin/python benchmarks/bench_ingest.py --events 20000000 --format parquet
    .venv/bin/python benchmarks/bench_ingest.py --events 20000000 --format csv

Writes N experience events (and N/20 persons) as landing files with DuckDB, ingests them with the
identity mapping (typing, quarantine rules, duplicate detection, upsert-free replace load), runs
the raw-table quality checks, and prints seconds, rows/s and peak resident memory per stage.
Two reference lines put the total in perspective: importing great-expectations (once per
process, so outside the total) and a bare copy of the same files into a DuckDB table with no
mapping, typing or checks at all (the floor of any load into the warehouse on this machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from bench_raw import peak_rss_gib

from b2b_scoring.lib.contract import EVENT_TYPES
from b2b_scoring.lib.ingestion import identity_mapping, ingest_table
from b2b_scoring.lib.quality import raw_table_checks
from b2b_scoring.lib.settings import Settings


def write_landing(landing: Path, events: int, fmt: str) -> None:
    """Synthetic landing files in the contract, written by DuckDB (about 20 events per person)."""
    persons = max(1, events // 20)
    for table in ("persons", "experience_events"):
        (landing / table).mkdir(parents=True, exist_ok=True)
    options = "(FORMAT parquet, ROW_GROUP_SIZE 250000)" if fmt == "parquet" else "(HEADER, DELIMITER ',')"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT 'P-' || i AS person_key, "
            f"TIMESTAMP '2024-01-01' + to_minutes(i % 100000) AS created_at, "
            f"'user' || i || '@example.com' AS email FROM range({persons}) t(i)) "
            f"TO '{landing / 'persons' / f'part-000.{fmt}'}' {options}"
        )
        con.execute(
            f"COPY (SELECT 'E-' || i AS event_id, 'P-' || (i % {persons}) AS person_key, "
            f"TIMESTAMP '2024-06-01' + to_seconds(i * 3) AS timestamp, "
            f"{list(EVENT_TYPES)}[1 + i % {len(EVENT_TYPES)}] AS event_type, "
            f"CASE WHEN i % 3 = 0 THEN 'https://www.example-vendor.com/pricing' END AS web_url, "
            f"CASE WHEN i % 5 = 0 THEN 'Monthly Newsletter' END AS campaign, "
            f"NULL::VARCHAR AS asset_name, NULL::VARCHAR AS converted_status "
            f"FROM range({events}) t(i)) TO '{landing / 'experience_events' / f'part-000.{fmt}'}' {options}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--work-dir", type=Path, help="keep files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    mapping = identity_mapping().tables
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        work_dir = args.work_dir or Path(tmp)
        landing, warehouse = work_dir / "landing", work_dir / "warehouse.duckdb"
        began = time.perf_counter()
        write_landing(landing, args.events, args.format)
        print(
            f"wrote {args.events:,} events as {args.format} "
            f"in {time.perf_counter() - began:.1f} s ({landing})"
        )
        total = 0.0
        with duckdb.connect(str(warehouse), config=Settings.from_env().duckdb_config) as con:
            for table in ("persons", "experience_events"):
                began = time.perf_counter()
                report = ingest_table(con, landing, mapping[table], mode="replace")
                seconds = time.perf_counter() - began
                total += seconds
                assert report.reconciles and report.rows_loaded == report.rows_read, report.to_dict()
                print(
                    f"ingest {table:<18} {seconds:7.2f} s {report.rows_read:>12,} rows "
                    f"{report.rows_read / seconds:>12,.0f} rows/s  peak RSS {peak_rss_gib():5.2f} GiB"
                )
        began = time.perf_counter()
        import great_expectations  # noqa: F401  (the one-time import, timed apart from the checks)

        print(f"import great-expectations      {time.perf_counter() - began:7.2f} s  (once per process)")
        for table in ("persons", "experience_events"):
            began = time.perf_counter()
            results = raw_table_checks(warehouse, table)
            seconds = time.perf_counter() - began
            total += seconds
            failed = [r.check_name for r in results if not r.passed]
            print(f"checks {table:<18} {seconds:7.2f} s  {len(results)} checks, failed: {failed or 'none'}")
        rows = args.events + max(1, args.events // 20)
        print(
            f"total {total:.2f} s for {rows:,} rows: {rows / total:,.0f} rows/s, "
            f"peak RSS {peak_rss_gib():.2f} GiB"
        )
        print_bare_copy(landing, work_dir / "bare_copy.duckdb", args.format, rows)
    return 0


def print_bare_copy(landing: Path, warehouse: Path, fmt: str, rows: int) -> None:
    """Time a plain CREATE TABLE AS of the landing files: no mapping, typing, checks or quarantine."""
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    began = time.perf_counter()
    with duckdb.connect(str(warehouse), config=Settings.from_env().duckdb_config) as con:
        for table in ("persons", "experience_events"):
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM {reader}('{landing / table}/*.{fmt}')")
    seconds = time.perf_counter() - began
    print(
        f"bare copy, no checks {seconds:7.2f} s for {rows:,} rows: {rows / seconds:,.0f} rows/s (the floor)"
    )


if __name__ == "__main__":
    sys.exit(main())
