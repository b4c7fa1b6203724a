"""Cheap SQL checks of loaded `raw.<table>` tables against the raw data contract."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.ingestion import RAW_SCHEMA
from b2b_scoring.lib.sql import fetch_single_row, quote_identifier

DUPLICATE_SAMPLE_SIZE = 5


@dataclass(frozen=True)
class NullCounts:
    table: str
    rows: int
    nulls_by_column: dict[str, int]

    @property
    def passed(self) -> bool:
        return not any(self.nulls_by_column.values())


@dataclass(frozen=True)
class DuplicateKeys:
    table: str
    key: tuple[str, ...]
    duplicated_keys: int
    sample: list[tuple[object, ...]]

    @property
    def passed(self) -> bool:
        return self.duplicated_keys == 0


def count_required_nulls(con: duckdb.DuckDBPyConnection, table: str) -> NullCounts:
    """NULLs per required contract column of `raw.<table>`."""
    contract = CONTRACTS[table]
    columns = contract.required_columns
    counts = ", ".join(f"count(*) - count({quote_identifier(c)})" for c in columns)
    row = fetch_single_row(con, f"SELECT count(*), {counts} FROM {RAW_SCHEMA}.{quote_identifier(table)}")
    return NullCounts(
        table=table, rows=int(row[0]), nulls_by_column=dict(zip(columns, map(int, row[1:]), strict=True))
    )


def find_duplicate_keys(con: duckdb.DuckDBPyConnection, table: str) -> DuplicateKeys:
    """Key values of `raw.<table>` that occur more than once (NULLs compare equal), with a sample."""
    contract = CONTRACTS[table]
    key = ", ".join(quote_identifier(c) for c in contract.key)
    duplicates = (
        f"SELECT {key}, count(*) AS occurrences FROM {RAW_SCHEMA}.{quote_identifier(table)} "
        f"GROUP BY ALL HAVING count(*) > 1"
    )
    total = int(fetch_single_row(con, f"SELECT count(*) FROM ({duplicates})")[0])
    sample = con.execute(
        f"{duplicates} ORDER BY occurrences DESC LIMIT ?", [DUPLICATE_SAMPLE_SIZE]
    ).fetchall()
    return DuplicateKeys(
        table=table, key=contract.key, duplicated_keys=total, sample=[tuple(r[:-1]) for r in sample]
    )
