"""Files the project writes for people: CSV that is safe to open in a spreadsheet.

A cell starting with =, +, -, @ (or a tab / carriage return) would run as a formula in Excel,
LibreOffice or Google Sheets. Such text stays data in the warehouse; in exported files it gets a
leading apostrophe, which spreadsheets show as text and never evaluate.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from b2b_scoring.lib.sql import quote_identifier

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(expression: str) -> str:
    """SQL for the text of `expression`, with formula-like text prefixed by an apostrophe."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    return (
        f"(CASE WHEN left({expression}, 1) IN ({starts}) THEN chr(39) || {expression} ELSE {expression} END)"
    )


def export_csv(con: duckdb.DuckDBPyConnection, relation: str, path: Path) -> int:
    """Write a table or view to a CSV file (header, UTF-8), every text column spreadsheet-safe;
    returns the rows written."""
    columns = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    selected = ", ".join(
        f"{spreadsheet_safe(quote_identifier(name))} AS {quote_identifier(name)}"
        if column_type == "VARCHAR"
        else quote_identifier(name)
        for name, column_type, *_ in columns
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    target = str(path).replace("'", "''")
    con.execute(f"COPY (SELECT {selected} FROM {relation}) TO '{target}' (HEADER, DELIMITER ',')")
    return con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]


def export_csv_and_parquet(
    con: duckdb.DuckDBPyConnection, query: str, parameters: dict[str, object], stem: Path
) -> tuple[int, Path, Path]:
    """Write the rows of `query` to <stem>.csv (spreadsheet-safe) and <stem>.parquet:
    (rows, csv path, parquet path)."""
    csv_path, parquet_path = stem.with_suffix(".csv"), stem.with_suffix(".parquet")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _export AS {query}", parameters)
    try:
        rows = export_csv(con, "_export", csv_path)
        con.table("_export").write_parquet(str(parquet_path))
    finally:
        con.execute("DROP TABLE IF EXISTS _export")
    return rows, csv_path, parquet_path
