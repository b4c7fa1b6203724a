"""Load landing files (`<dir>/<table>/*.parquet|*.csv`) into the DuckDB `raw` schema.

Everything moves inside DuckDB (read_parquet / read_csv, INSERT ... SELECT); values are cast to
the contract's DuckDB types on the way in. Snapshot tables are replaced whole; time-partitioned
event tables are replaced one half-open time window [start, end) at a time. Each load is one
transaction, so a failed load leaves the previous rows in place and a repeated load leaves the
same rows.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from b2b_scoring.lib.contract import CONTRACTS, TableContract
from b2b_scoring.lib.sql import fetch_single_row, quote_identifier, transaction

RAW_SCHEMA = "raw"
FileFormat = Literal["parquet", "csv"]


class LandingError(ValueError):
    """Landing files are missing or do not follow the raw data contract."""


@dataclass(frozen=True)
class TimeWindow:
    """Half-open [start, end) window of naive UTC timestamps."""

    start: datetime.datetime
    end: datetime.datetime

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"empty time window: start {self.start} is not before end {self.end}")

    @classmethod
    def from_datetimes(cls, start: datetime.datetime, end: datetime.datetime) -> TimeWindow:
        """Accept aware datetimes (as Dagster partition windows are) and convert them to naive UTC."""
        return cls(_naive_utc(start), _naive_utc(end))


@dataclass(frozen=True)
class LandingFiles:
    table: str
    folder: Path
    format: FileFormat
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class LoadResult:
    table: str
    rows_loaded: int
    rows_in_table: int
    files: tuple[Path, ...]
    window: TimeWindow | None = None


def contract_for(table: str) -> TableContract:
    try:
        return CONTRACTS[table]
    except KeyError:
        raise ValueError(f"{table!r} is not a contract table: expected one of {sorted(CONTRACTS)}") from None


def find_landing_files(landing_dir: Path, table: str) -> LandingFiles:
    """The files of one contract table: all Parquet or all CSV files directly in `<landing_dir>/<table>/`."""
    contract_for(table)
    folder = Path(landing_dir) / table
    if not folder.is_dir():
        raise LandingError(f"Landing folder for table {table!r} not found: {folder}")
    by_format: dict[FileFormat, tuple[Path, ...]] = {
        "parquet": tuple(sorted(folder.glob("*.parquet"))),
        "csv": tuple(sorted(folder.glob("*.csv"))),
    }
    present = [fmt for fmt, paths in by_format.items() if paths]
    if not present:
        raise LandingError(f"No *.parquet or *.csv files in landing folder {folder}")
    if len(present) > 1:
        raise LandingError(f"Landing folder {folder} mixes Parquet and CSV files: keep one format per table")
    fmt = present[0]
    return LandingFiles(table=table, folder=folder, format=fmt, paths=by_format[fmt])


def load_snapshot_table(con: duckdb.DuckDBPyConnection, landing_dir: Path, table: str) -> LoadResult:
    """Replace `raw.<table>` with the rows of its landing files, atomically."""
    contract = contract_for(table)
    files = find_landing_files(landing_dir, table)
    _prepare_session(con)
    select_sql, params = _contract_select(con, contract, files)
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TABLE {_raw_table(contract)} AS {select_sql}", params)
        rows = count_rows(con, f"SELECT count(*) FROM {_raw_table(contract)}")
    return LoadResult(table=table, rows_loaded=rows, rows_in_table=rows, files=files.paths)


def load_time_window(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, table: str, window: TimeWindow
) -> LoadResult:
    """Replace the rows of `raw.<table>` whose time column is in [window.start, window.end).

    Delete and insert happen in one transaction, so loading the same window twice leaves the
    same rows and rows outside the window are never touched.
    """
    contract = contract_for(table)
    if contract.time_column is None:
        raise ValueError(f"table {table!r} has no time column and cannot be loaded by window")
    files = find_landing_files(landing_dir, table)
    _prepare_session(con)
    select_sql, params = _contract_select(con, contract, files)
    target = _raw_table(contract)
    time_column = quote_identifier(contract.time_column)
    in_window = f"{time_column} >= ? AND {time_column} < ?"
    bounds = [window.start, window.end]
    with transaction(con):
        con.execute(f"CREATE TABLE IF NOT EXISTS {target} ({_column_definitions(contract)})")
        con.execute(f"DELETE FROM {target} WHERE {in_window}", bounds)
        con.execute(
            f"INSERT INTO {target} SELECT * FROM ({select_sql}) AS landed WHERE {in_window}",
            [*params, *bounds],
        )
        rows_loaded = count_rows(con, f"SELECT count(*) FROM {target} WHERE {in_window}", bounds)
        rows_in_table = count_rows(con, f"SELECT count(*) FROM {target}")
    return LoadResult(
        table=table, rows_loaded=rows_loaded, rows_in_table=rows_in_table, files=files.paths, window=window
    )


def relation_row_counts(con: duckdb.DuckDBPyConnection, schema: str = RAW_SCHEMA) -> dict[str, int]:
    """Row count of every table and view in `schema` (contract tables first, then others by name)."""
    names = [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = ? AND table_catalog = current_database()",
            [schema],
        ).fetchall()
    ]
    order = {name: i for i, name in enumerate(CONTRACTS)}
    names.sort(key=lambda name: (order.get(name, len(order)), name))
    return {
        name: count_rows(con, f"SELECT count(*) FROM {quote_identifier(schema)}.{quote_identifier(name)}")
        for name in names
    }


def _contract_select(
    con: duckdb.DuckDBPyConnection, contract: TableContract, files: LandingFiles
) -> tuple[str, list[object]]:
    """A SELECT over the landing files with exactly the contract's columns, cast to contract types.

    Optional columns absent from every file come out as NULL; a missing required column is an error.
    """
    reader, params = _reader(files)
    # lower-cased name -> (name as in the files, DuckDB type)
    present = {
        row[0].lower(): (row[0], row[1])
        for row in con.execute(f"DESCRIBE SELECT * FROM {reader}", params).fetchall()
    }
    missing = [c for c in contract.required_columns if c.lower() not in present]
    if missing:
        raise LandingError(
            f"Landing files in {files.folder} lack required column(s) {', '.join(missing)} "
            f"of table {contract.name!r} (found: {', '.join(n for n, _ in present.values()) or 'none'})"
        )
    expressions = []
    for column in contract.columns:
        if column.name.lower() not in present:
            value = _cast("NULL", column.duckdb_type)
        else:
            source, source_type = present[column.name.lower()]
            # An uncast column lets DuckDB push window filters into the Parquet scan.
            value = quote_identifier(source)
            if source_type != column.duckdb_type:
                value = _cast(value, column.duckdb_type)
        expressions.append(f"{value} AS {quote_identifier(column.name)}")
    return f"SELECT {', '.join(expressions)} FROM {reader}", params


def _reader(files: LandingFiles) -> tuple[str, list[object]]:
    paths = [str(p) for p in files.paths]
    if files.format == "parquet":
        return "read_parquet(?, union_by_name = true)", [paths]
    # All columns as text, so keys like "00123" keep their zeros and the contract decides types.
    return "read_csv(?, header = true, all_varchar = true, union_by_name = true)", [paths]


def _cast(expression: str, duckdb_type: str) -> str:
    if duckdb_type == "TIMESTAMP":
        # Through TIMESTAMPTZ so "...Z" / "+02:00" offsets are honoured; the session is UTC.
        return f"CAST(CAST({expression} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"CAST({expression} AS {duckdb_type})"


def _column_definitions(contract: TableContract) -> str:
    return ", ".join(f"{quote_identifier(c.name)} {c.duckdb_type}" for c in contract.columns)


def _raw_table(contract: TableContract) -> str:
    return f"{RAW_SCHEMA}.{quote_identifier(contract.name)}"


def _prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    # Naive contract timestamps are UTC; casts through TIMESTAMPTZ depend on the session time zone.
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")


def count_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    return int(fetch_single_row(con, sql, params)[0])


def _naive_utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(datetime.UTC).replace(tzinfo=None)
