"""Catching the weekly feature history up in bounded runs (see `dbt_args.history_weeks_per_run`).

After the regular dbt build, which adds at most that many Mondays, the history models alone run
again until the latest Monday of the data is built. The warehouse is opened (read-only) only
between dbt runs: dbt holds DuckDB's write lock while it runs.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import duckdb

from b2b_scoring.lib.dbt_args import history_catch_up_args
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import count_rows, table_exists

# Every known person has a row per Monday here (activity tables only have active persons).
HISTORY_TABLE = "features.person_feature_history"


def raw_persons(con: duckdb.DuckDBPyConnection) -> int:
    """Persons in raw.persons (0 before the raw layer exists): sizes the history runs."""
    return count_rows(con, "select count(*) from raw.persons") if table_exists(con, "raw.persons") else 0


def history_progress(warehouse_path: Path) -> tuple[datetime.date | None, datetime.date | None]:
    """(latest Monday built, latest Monday the events call for), None when unknown."""
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        if not table_exists(con, HISTORY_TABLE):
            return None, None
        built = con.execute(f"select max(as_of_date) from {HISTORY_TABLE}").fetchall()[0][0]
        target = con.execute(
            "select cast(date_trunc('week', max(event_date) + interval 1 day) as date) "
            "from staging.stg_experience_events"
        ).fetchall()[0][0]
    return built, target


def catch_up_weekly_history(
    run_dbt: Callable[[list[str]], None],
    settings: Settings,
    warehouse_path: Path,
    weeks_per_run: int,
    log: Callable[[str], None],
) -> int:
    """Run the history models until they reach the latest Monday (or stop progressing: a Monday
    without any activity); returns the number of extra runs."""
    runs = 0
    built, target = history_progress(warehouse_path)
    while built is not None and target is not None and built < target:
        log(f"weekly history built up to {built}; adding up to {weeks_per_run} Mondays towards {target}")
        run_dbt(history_catch_up_args(settings, warehouse_path, weeks_per_run))
        runs += 1
        progressed, target = history_progress(warehouse_path)
        if progressed == built:
            break
        built = progressed
    return runs
