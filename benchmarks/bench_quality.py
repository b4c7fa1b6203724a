"""Benchmark the GX data-quality checks of the raw tables (b2b_scoring.lib.quality).

    .venv/bin/python benchmarks/bench_quality.py --events 20000000

Builds a warehouse with N rows in raw.experience_events (made in DuckDB from range(), with
realistic columns: ~N/50 persons, the nine event types, two years of timestamps, a few unknown
event types and orphan events so the WARN checks do real work) and the other raw tables, then times
`raw_table_checks` on every table. Prints seconds, rows/s and the process's peak resident memory
(ru_maxrss, which counts DuckDB's buffers) after each table. The first table also pays the one-off
`import great_expectations` (reported separately).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb
from bench_raw import peak_rss_gib

from b2b_scoring.lib.contract import CONTRACTS, EVENT_TYPES, OPPORTUNITY_STAGES

NOW = dt.datetime(2026, 1, 1)


def build_warehouse(path: Path, events: int) -> dict[str, int]:
    """raw.* tables per the contract; returns the row count of each."""
    persons = max(events // 50, 10)
    accounts = max(persons // 20, 5)
    event_types = list(EVENT_TYPES)
    stages = list(OPPORTUNITY_STAGES)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        for contract in CONTRACTS.values():
            columns = ", ".join(f'"{c.name}" {c.duckdb_type}' for c in contract.columns)
            con.execute(f"CREATE TABLE raw.{contract.name} ({columns})")
        con.execute(
            """
            INSERT INTO raw.persons
            SELECT 'P' || i, TIMESTAMP '2020-01-01' + to_seconds(i % 60000000), 'A' || (i % $accounts),
                   'p' || i || '@example.com', 'First', 'Last', 'Company ' || (i % $accounts),
                   'company' || (i % $accounts) || '.com', 'Analyst', 'US'
            FROM range($persons) t(i)
            """,
            {"persons": persons, "accounts": accounts},
        )
        con.execute(
            """
            INSERT INTO raw.accounts
            SELECT 'A' || i, TIMESTAMP '2019-01-01', 'Company ' || i, 'company' || i || '.com', 'Software',
                   10 + i % 5000, 1e6 * (1 + i % 100), 'US'
            FROM range($accounts) t(i)
            """,
            {"accounts": accounts},
        )
        # 1 in 100,000 events has an unknown type, 1 in 200,000 a person not (yet) in raw.persons.
        con.execute(
            """
            INSERT INTO raw.experience_events
            SELECT 'E' || i,
                   CASE WHEN i % 200000 = 7 THEN 'GHOST' || i ELSE 'P' || (hash(i) % $persons) END,
                   TIMESTAMP '2024-01-01' + to_seconds(hash(i * 31) % 63072000),
                   CASE WHEN i % 100000 = 3 THEN 'web.unknownType' ELSE $types[1 + i % 9] END,
                   CASE WHEN i % 9 = 0 THEN 'https://example.com/page/' || (i % 1000) END,
                   CASE WHEN i % 3 = 1 THEN 'campaign_' || (i % 50) END,
                   CASE WHEN i % 9 = 6 THEN 'whitepaper_' || (i % 20) END,
                   CASE WHEN i % 9 = 8 THEN 'converted' END
            FROM range($events) t(i)
            """,
            {"persons": persons, "events": events, "types": event_types},
        )
        opportunities = max(accounts // 2, 1)
        con.execute(
            """
            INSERT INTO raw.opportunity_events
            SELECT 'O' || i, 'OPP' || (i // 6), 'A' || ((i // 6) % $accounts),
                   TIMESTAMP '2024-01-01' + to_seconds(i * 600), 'Stage', $stages[1 + i % 6],
                   CASE WHEN i % 6 > 0 THEN $stages[i % 6] END, NULL, 10000.0 + i
            FROM range($rows) t(i)
            """,
            {"accounts": accounts, "rows": opportunities * 6, "stages": stages},
        )
        con.execute(
            """
            INSERT INTO raw.intent_signals
            SELECT CASE WHEN i % 2 = 0 THEN 'A' || (i % $accounts) END,
                   CASE WHEN i % 2 = 1 THEN 'company' || (i % $accounts) || '.com' END,
                   'topic_' || (i // $accounts % 10),
                   DATE '2024-01-01' + CAST(i // ($accounts * 10) AS INTEGER),
                   (i * 7) % 101, 'bombora'
            FROM range($rows) t(i)
            """,
            {"accounts": accounts, "rows": accounts * 20},
        )
        con.execute(
            """
            INSERT INTO raw.sales_dispositions
            SELECT 'P' || (i * 7 % $persons), $dispositions[1 + i % 4],
                   TIMESTAMP '2024-06-01' + to_seconds(i * 60), NULL
            FROM range($rows) t(i)
            """,
            {
                "persons": persons,
                "rows": max(persons // 10, 1),
                "dispositions": ["accepted", "rejected", "disqualified", "nurture"],
            },
        )
        return {
            table: int(con.execute(f"SELECT count(*) FROM raw.{table}").fetchone()[0]) for table in CONTRACTS
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--work-dir", type=Path, help="keep the warehouse here (default: a temporary folder)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
        path = (args.work_dir or Path(tmp)) / "warehouse.duckdb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        began = time.perf_counter()
        rows = build_warehouse(path, args.events)
        print(
            f"build warehouse {time.perf_counter() - began:8.2f} s  "
            + ", ".join(f"{t}={n:,}" for t, n in rows.items())
            + f"  peak RSS {peak_rss_gib():.2f} GiB",
            flush=True,
        )

        began = time.perf_counter()
        import great_expectations  # noqa: F401  (timed apart: paid once per process)

        from b2b_scoring.lib import quality

        print(f"import great_expectations {time.perf_counter() - began:6.2f} s", flush=True)

        total_rows, total_seconds = 0, 0.0
        for table in CONTRACTS:
            began = time.perf_counter()
            results = quality.raw_table_checks(path, table, now=NOW)
            seconds = time.perf_counter() - began
            total_rows += rows[table]
            total_seconds += seconds
            failed = [f"{r.check_name}({r.severity}:{r.unexpected_count})" for r in results if not r.passed]
            print(
                f"{table:<20} {seconds:8.2f} s  {rows[table]:>12,} rows  "
                f"{rows[table] / max(seconds, 1e-9):>14,.0f} rows/s  {len(results)} checks  "
                f"peak RSS {peak_rss_gib():6.2f} GiB  failed: {', '.join(failed) or '-'}",
                flush=True,
            )
        print(
            f"{'all tables':<20} {total_seconds:8.2f} s  {total_rows:>12,} rows  "
            f"{total_rows / max(total_seconds, 1e-9):>14,.0f} rows/s  peak RSS {peak_rss_gib():6.2f} GiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
