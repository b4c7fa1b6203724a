"""Small helpers for building DuckDB SQL safely."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb


def quote_identifier(identifier: str) -> str:
    """Quote a schema, table or column name for DuckDB (values always go in as parameters)."""
    return '"' + identifier.replace('"', '""') + '"'


def preview_markdown(con: duckdb.DuckDBPyConnection, schema: str, table: str, limit: int = 5) -> str:
    """The first `limit` rows of `schema.table` as a Markdown table (for asset metadata)."""
    cursor = con.execute(
        f"SELECT * FROM {quote_identifier(schema)}.{quote_identifier(table)} LIMIT ?", [limit]
    )
    return markdown_table([d[0] for d in cursor.description], cursor.fetchall())


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (for asset metadata): cells as text, None empty, pipes escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _markdown_cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def fetch_single_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | dict[str, object] | None = None
) -> tuple[object, ...]:
    """The one row of an aggregate query, read to the end so the connection has no open result."""
    rows = con.execute(sql, params or []).fetchall()
    if len(rows) != 1:
        raise ValueError(f"expected one row, got {len(rows)} from: {sql}")
    return rows[0]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Everything inside commits together or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def table_exists(con: duckdb.DuckDBPyConnection, qualified_name: str) -> bool:
    """Whether `schema.table` exists in the current database."""
    schema, table = qualified_name.split(".")
    return bool(
        con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ? "
            "AND table_catalog = current_database()",
            [schema, table],
        ).fetchall()
    )


def count_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    return int(fetch_single_row(con, sql, params)[0])


def relation_row_counts(
    con: duckdb.DuckDBPyConnection, schema: str, first: Sequence[str] = ()
) -> dict[str, int]:
    """Row count of every table and view in `schema`: the names in `first` in that order, then
    the others by name."""
    names = [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = ? AND table_catalog = current_database()",
            [schema],
        ).fetchall()
    ]
    order = {name: i for i, name in enumerate(first)}
    names.sort(key=lambda name: (order.get(name, len(order)), name))
    return {
        name: count_rows(con, f"SELECT count(*) FROM {quote_identifier(schema)}.{quote_identifier(name)}")
        for name in names
    }
