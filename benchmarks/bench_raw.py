"""Benchmark the raw stage: simulate a world, write its landing files, load them into DuckDB.

    .venv/bin/python benchmarks/bench_raw.py --persons 1000000

Prints wall time, rows/s and the process's peak resident memory after each stage. Peak memory is
ru_maxrss (it counts numpy, Arrow and DuckDB buffers, which tracemalloc does not see).
"""

from __future__ import annotations

import argparse
import datetime
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.ingestion import identity_mapping, ingest_table
from b2b_scoring.lib.quality import raw_table_checks
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator import SimulationConfig, simulate_world, write_landing_files

EVENTS = "experience_events"


def peak_rss_gib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@dataclass
class Stage:
    name: str
    rows: int = 0
    seconds: float = 0.0


class Report:
    def __init__(self) -> None:
        self.stages: list[Stage] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """Time the block; the block sets `stage.rows` to the rows it processed."""
        stage = Stage(name)
        began = time.perf_counter()
        yield stage
        stage.seconds = time.perf_counter() - began
        self.stages.append(stage)
        print(
            f"{name:<34} {stage.seconds:8.2f} s  {stage.rows:>12,} rows"
            f"  {stage.rows / max(stage.seconds, 1e-9):>14,.0f} rows/s  peak RSS {peak_rss_gib():6.2f} GiB",
            flush=True,
        )

    def print_total(self) -> None:
        seconds = sum(stage.seconds for stage in self.stages)
        print(f"{'total':<34} {seconds:8.2f} s  peak RSS {peak_rss_gib():.2f} GiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work-dir", type=Path, help="keep files here (default: a temporary folder)")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_raw_") as tmp:
        work_dir = args.work_dir or Path(tmp)
        landing_dir = work_dir / "landing"
        config = SimulationConfig(n_persons=args.persons, history_days=args.days, seed=args.seed)
        print(
            f"persons={config.n_persons:,} accounts={config.accounts:,} days={config.history_days} "
            f"({config.start_date} .. {config.end_date}) format={args.format} work_dir={work_dir}"
        )
        report = Report()
        with report.stage("simulate") as stage:
            world = simulate_world(config)
            stage.rows = sum(table.num_rows for table in world.tables.values())
        total_rows = stage.rows
        with report.stage(f"write landing files ({args.format})") as stage:
            write_landing_files(world, landing_dir, fmt=args.format)
            stage.rows = total_rows
        del world  # the loads below read the files, as the raw assets do

        whole_range = (
            datetime.datetime.combine(config.start_date, datetime.time()),
            datetime.datetime.combine(config.end_date + datetime.timedelta(days=1), datetime.time()),
        )
        last_day = (whole_range[1] - datetime.timedelta(days=1), whole_range[1])
        mapping = identity_mapping().tables
        with duckdb.connect(
            str(work_dir / "warehouse.duckdb"), config=Settings.from_env().duckdb_config
        ) as con:
            with report.stage("ingest snapshot tables") as stage:
                for table in CONTRACTS:
                    if table != EVENTS:
                        stage.rows += ingest_table(con, landing_dir, mapping[table], mode="replace").rows_read
            with report.stage("ingest events, all days (1 window)") as stage:
                stage.rows = ingest_table(con, landing_dir, mapping[EVENTS], window=whole_range).rows_read
            with report.stage("re-ingest events, last day") as stage:
                stage.rows = ingest_table(con, landing_dir, mapping[EVENTS], window=last_day).rows_read
        with report.stage("quality checks (GX, all tables)") as stage:
            for table in CONTRACTS:
                failed = [
                    r.check_name
                    for r in raw_table_checks(work_dir / "warehouse.duckdb", table)
                    if not r.passed
                ]
                if failed:
                    print(f"quality checks failed on raw.{table}: {failed}", file=sys.stderr)
                    return 1
            stage.rows = total_rows
        report.print_total()
    return 0


if __name__ == "__main__":
    sys.exit(main())
