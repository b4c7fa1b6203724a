"""Great Expectations 1.x data-quality checks of the raw tables, run as SQL inside DuckDB.

One GX suite per `raw.<table>`, built fresh from the raw data contract on every call and validated
in an ephemeral GX context (analytics and progress bars off, nothing stored, nothing fetched)
against the warehouse file through GX's SQL datasource (SQLAlchemy + `duckdb-engine`). GX compiles
every expectation to SQL, so DuckDB scans the table; no row is pulled into pandas. Several
expectations can share a check name (not-null over several columns, for instance): their results
are folded into one `QualityResult` per check name, which is what the Dagster side declares as one
asset check per table (`CHECKS_BY_TABLE`, known without a database).

Severity ERROR checks (contract violations) block downstream assets; WARN checks flag rows that are
kept (unknown enumerations, events whose person or account is not, or not yet, known).

Key uniqueness and NULLs: a single-column key uses GX's column uniqueness (NULL keys are reported
by `required_not_null`, not as duplicates). A compound key whose parts are all required
(sales_dispositions) uses GX's compound-uniqueness expectation. GX computes that one with an inner
join on `=`, so a row with a NULL key part can never be found duplicated; intent_signals carries
`account_key` *or* `domain` (and an optional provider), so almost every row has a NULL part and the
join would check nothing. Its key is therefore checked with an unexpected-rows query that groups
with NULLs equal (`count(*) OVER (PARTITION BY key)`): two signals of the same account, topic, day
and provider, both without domain, are duplicates, as the ingestion treats them.

The warehouse is opened read-only, so the checks never take DuckDB's write lock; the caller must
close its own connection to the file first (DuckDB refuses a second configuration of an open file).

Compatibility note: SQLAlchemy >= 2.0.45 reflects PostgreSQL-style columns through
`pg_catalog.pg_collation`, which DuckDB 2.0 does not emulate, and `duckdb-engine` 0.17 inherits that
query (duckdb_engine#1379, duckdb#22069), so GX could not read column names or types. The
`DuckDBQualityDialect` below (a `duckdb-engine` subclass registered as `duckdb+b2b_quality`) reads
them from `duckdb_columns()` instead; everything else is plain `duckdb-engine`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import enum
import logging
import math
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from b2b_scoring.lib.contract import (
    CONTRACTS,
    DISPOSITIONS,
    EVENT_TYPES,
    OPPORTUNITY_STAGES,
    STAGE_ATTRIBUTE,
    TableContract,
)
from b2b_scoring.lib.ingestion.ingest import FUTURE_TOLERANCE, RAW_SCHEMA, TIMESTAMP_FLOOR, naive_utc

SAMPLE_SIZE = 5


class Severity(enum.StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


@dataclass(frozen=True)
class QualityResult:
    check_name: str
    table: str
    severity: Severity
    passed: bool
    unexpected_count: int
    element_count: int
    description: str
    sample: list[dict]


# Check names (stable: Dagster asset-check names are built from them).
REQUIRED_COLUMNS_PRESENT = "required_columns_present"
COLUMN_TYPES_MATCH = "column_types_match"
REQUIRED_NOT_NULL = "required_not_null"
KEY_UNIQUE = "key_unique"
TIMESTAMPS_IN_RANGE = "timestamps_in_range"
VALUES_IN_RANGE = "values_in_range"
ACCOUNT_OR_DOMAIN_PRESENT = "account_or_domain_present"
EVENT_TYPE_KNOWN = "event_type_known"
OPPORTUNITY_STAGE_KNOWN = "opportunity_stage_known"
DISPOSITION_KNOWN = "disposition_known"
PERSON_EXISTS = "person_exists"
ACCOUNT_EXISTS = "account_exists"

# Sane ranges of numeric contract columns: (table, column) -> (min, max); None = unbounded.
NUMERIC_RANGES: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("accounts", "number_of_employees"): (0, 10_000_000),
    ("accounts", "annual_revenue"): (0, None),
    ("opportunity_events", "amount"): (0, None),
    ("intent_signals", "intensity"): (0, 100),
}
# Enumerations checked per table: check name -> (column, allowed values).
_ENUMERATIONS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "experience_events": {EVENT_TYPE_KNOWN: ("event_type", EVENT_TYPES)},
    "opportunity_events": {OPPORTUNITY_STAGE_KNOWN: ("new_value", OPPORTUNITY_STAGES)},
    "sales_dispositions": {DISPOSITION_KNOWN: ("disposition", DISPOSITIONS)},
}
# References checked per table: check name -> (column, referenced table, referenced column).
_REFERENCES: dict[str, dict[str, tuple[str, str, str]]] = {
    "experience_events": {PERSON_EXISTS: ("person_key", "persons", "person_key")},
    "opportunity_events": {ACCOUNT_EXISTS: ("account_key", "accounts", "account_key")},
    "sales_dispositions": {PERSON_EXISTS: ("person_key", "persons", "person_key")},
}
_TIME_TYPES = ("TIMESTAMP", "DATE")


def _nullable_key(contract: TableContract) -> bool:
    required = set(contract.required_columns)
    return any(c not in required for c in contract.key)


def _time_columns(contract: TableContract) -> list[str]:
    return [c.name for c in contract.columns if c.duckdb_type in _TIME_TYPES]


def _table_checks(contract: TableContract) -> tuple[tuple[str, Severity, str], ...]:
    table = contract.name
    key = ", ".join(contract.key)
    checks: list[tuple[str, Severity, str]] = [
        (
            REQUIRED_COLUMNS_PRESENT,
            Severity.ERROR,
            f"Required columns exist: {', '.join(contract.required_columns)}.",
        ),
        (COLUMN_TYPES_MATCH, Severity.ERROR, "Every contract column has its contract DuckDB type."),
        (
            REQUIRED_NOT_NULL,
            Severity.ERROR,
            f"No NULLs in required columns: {', '.join(contract.required_columns)}.",
        ),
        (
            KEY_UNIQUE,
            Severity.ERROR,
            f"Key ({key}) is unique"
            + (" (NULL key parts compare equal)." if _nullable_key(contract) else "."),
        ),
        (
            TIMESTAMPS_IN_RANGE,
            Severity.ERROR,
            f"{', '.join(_time_columns(contract))} between {TIMESTAMP_FLOOR.date()} and now + "
            f"{FUTURE_TOLERANCE.days} day.",
        ),
    ]
    ranges = [(col, bounds) for (t, col), bounds in NUMERIC_RANGES.items() if t == table]
    if ranges:
        checks.append(
            (
                VALUES_IN_RANGE,
                Severity.ERROR,
                "Numeric values in sane ranges: "
                + ", ".join(f"{col} in [{lo}, {'inf' if hi is None else hi}]" for col, (lo, hi) in ranges)
                + ".",
            )
        )
    if table == "intent_signals":
        checks.append(
            (ACCOUNT_OR_DOMAIN_PRESENT, Severity.ERROR, "Every signal has an account_key or a domain.")
        )
    for name, (column, values) in _ENUMERATIONS.get(table, {}).items():
        scope = (
            f" (rows with attribute_name = '{STAGE_ATTRIBUTE}')" if name == OPPORTUNITY_STAGE_KNOWN else ""
        )
        checks.append(
            (
                name,
                Severity.WARN,
                f"{column} is one of the {len(values)} contract values{scope}; unknown values are kept.",
            )
        )
    for name, (column, ref_table, ref_column) in _REFERENCES.get(table, {}).items():
        checks.append(
            (
                name,
                Severity.WARN,
                f"{column} exists in {RAW_SCHEMA}.{ref_table}.{ref_column} "
                "(events may arrive before it; they are kept).",
            )
        )
    return tuple(checks)


CHECKS_BY_TABLE: dict[str, tuple[tuple[str, Severity, str], ...]] = {
    name: _table_checks(contract) for name, contract in CONTRACTS.items()
}


# --------------------------------------------------------------------------------------------
# Suite construction (fresh GX objects on every call)
# --------------------------------------------------------------------------------------------


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _tag(table: str, check: str, label: str) -> dict[str, Any]:
    """Expectation kwargs linking it to its check (meta) and GX severity."""
    severity = {name: sev for name, sev, _ in CHECKS_BY_TABLE[table]}[check]
    gx_severity = "critical" if severity is Severity.ERROR else "warning"
    return {"meta": {"check": check, "label": label}, "severity": gx_severity}


def _key_unique_rows_expectation(contract: TableContract) -> Any:
    """Row-level uniqueness of a single-column key: counts every row whose key is duplicated."""
    import great_expectations.expectations as gxe

    (column,) = contract.key
    return gxe.ExpectColumnValuesToBeUnique(column=column, **_tag(contract.name, KEY_UNIQUE, column))


def _build_expectations(contract: TableContract, now: dt.datetime) -> list[Any]:
    """The GX expectations of one table, each tagged with its check name in `meta`."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column as RowColumn

    def tag(check: str, label: str) -> dict[str, Any]:
        return _tag(contract.name, check, label)

    table = contract.name
    key = list(contract.key)
    expectations: list[Any] = []
    for col in contract.required_columns:
        expectations.append(gxe.ExpectColumnToExist(column=col, **tag(REQUIRED_COLUMNS_PRESENT, col)))
    for c in contract.columns:
        expectations.append(
            gxe.ExpectColumnValuesToBeOfType(
                column=c.name, type_=c.duckdb_type, **tag(COLUMN_TYPES_MATCH, c.name)
            )
        )
    for col in contract.required_columns:
        expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=col, **tag(REQUIRED_NOT_NULL, col)))

    if len(key) == 1:
        # Screen: one COUNT(DISTINCT) in the aggregate query GX bundles for the table. Only when it
        # fails does `raw_table_checks` run the row-level uniqueness expectation (exact count of
        # rows with a duplicated key, and a sample), which costs three full passes.
        expectations.append(
            gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(
                column=key[0], min_value=1.0, max_value=1.0, **tag(KEY_UNIQUE, key[0])
            )
        )
    elif not _nullable_key(contract):
        expectations.append(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=key, **tag(KEY_UNIQUE, ",".join(key)))
        )
    else:
        partition = ", ".join(_q(c) for c in key)
        expectations.append(
            gxe.UnexpectedRowsExpectation(
                unexpected_rows_query=(
                    f"SELECT {partition} FROM (SELECT {partition}, count(*) OVER (PARTITION BY {partition}) "
                    f"AS _key_rows FROM {{batch}}) AS keyed WHERE _key_rows > 1"
                ),
                description=f"duplicated ({', '.join(key)}), NULL parts equal",
                **tag(KEY_UNIQUE, ",".join(key)),
            )
        )

    upper = now + FUTURE_TOLERANCE
    for c in contract.columns:
        if c.duckdb_type not in _TIME_TYPES:
            continue
        lo, hi = (
            (TIMESTAMP_FLOOR, upper)
            if c.duckdb_type == "TIMESTAMP"
            else (TIMESTAMP_FLOOR.date(), upper.date())
        )
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=c.name, min_value=lo, max_value=hi, **tag(TIMESTAMPS_IN_RANGE, c.name)
            )
        )

    for (t, col), (lo, hi) in NUMERIC_RANGES.items():
        if t == table:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=col, min_value=lo, max_value=hi, **tag(VALUES_IN_RANGE, col)
                )
            )

    if table == "intent_signals":
        expectations.append(
            gxe.UnexpectedRowsExpectation(
                unexpected_rows_query=(
                    'SELECT "account_key", "domain", "topic", "signal_date", "provider" FROM {batch} '
                    'WHERE "account_key" IS NULL AND "domain" IS NULL'
                ),
                description="signals with neither account_key nor domain",
                **tag(ACCOUNT_OR_DOMAIN_PRESENT, "account_key,domain"),
            )
        )

    for name, (col, values) in _ENUMERATIONS.get(table, {}).items():
        condition = {}
        if name == OPPORTUNITY_STAGE_KNOWN:
            condition = {"row_condition": RowColumn("attribute_name") == STAGE_ATTRIBUTE}
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(values), **condition, **tag(name, col))
        )

    for name, (col, ref_table, ref_col) in _REFERENCES.get(table, {}).items():
        shown = ", ".join(_q(c) for c in dict.fromkeys([*key, col]))
        expectations.append(
            gxe.UnexpectedRowsExpectation(
                unexpected_rows_query=(
                    f"SELECT {shown} FROM {{batch}} WHERE {_q(col)} IS NOT NULL AND {_q(col)} NOT IN "
                    f"(SELECT {_q(ref_col)} FROM {_q(RAW_SCHEMA)}.{_q(ref_table)} "
                    f"WHERE {_q(ref_col)} IS NOT NULL)"
                ),
                description=f"{col} not in {RAW_SCHEMA}.{ref_table}",
                **tag(name, col),
            )
        )
    return expectations


# --------------------------------------------------------------------------------------------
# Running a suite
# --------------------------------------------------------------------------------------------


def raw_table_checks(warehouse_path: Path, table: str, now: dt.datetime | None = None) -> list[QualityResult]:
    """Run the GX suite of `raw.<table>` in the DuckDB file and return one result per check name.

    `now` (default: the current UTC time) sets the upper bound of timestamps (`now` + 1 day);
    timestamps are naive UTC, as in the raw contract. The file is opened read-only.
    """
    contract = CONTRACTS[table]
    now = naive_utc(now or dt.datetime.now(dt.UTC))
    path = Path(warehouse_path)
    expectation_results = _validate(path, contract, _build_expectations(contract, now))
    screen = [r for r in expectation_results if r.expectation_config.type == _UNIQUE_SCREEN]
    if screen and not screen[0].success:
        # The screen saw fewer distinct keys than non-NULL keys (or could not tell, e.g. on an
        # empty table): the row-level expectation decides, and reports count and sample.
        expectation_results.remove(screen[0])
        expectation_results += _validate(path, contract, [_key_unique_rows_expectation(contract)])
    return _fold(contract, expectation_results)


_UNIQUE_SCREEN = "expect_column_proportion_of_unique_values_to_be_between"


def _ephemeral_context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _validate(warehouse_path: Path, contract: TableContract, expectations: list[Any]) -> list[Any]:
    """Validate `expectations` against `raw.<table>`; the GX expectation results, in any order."""
    import great_expectations as gx

    _register_dialect()
    if not warehouse_path.exists():
        raise FileNotFoundError(f"DuckDB warehouse not found: {warehouse_path}")
    context = _ephemeral_context()
    datasource = context.data_sources.add_sql(
        name=f"warehouse_{uuid.uuid4().hex[:8]}",
        connection_string=f"{_DIALECT_URL}:///{warehouse_path.resolve()}",
        kwargs={"connect_args": {"read_only": True}},
    )
    # Row-level expectations report counts plus the first failing rows (a LIMIT in the SQL);
    # unexpected-rows queries only return their rows in COMPLETE, where GX still fetches at most
    # 200 of them (`fetchmany`), and counts them with COUNT(*).
    row_level = [e for e in expectations if not _is_query(e)]
    queries = [e for e in expectations if _is_query(e)]
    formats = (
        {
            "result_format": "SUMMARY",
            "partial_unexpected_count": SAMPLE_SIZE,
            "include_unexpected_rows": True,
        },
        {"result_format": "COMPLETE"},
    )
    try:
        with warnings.catch_warnings():
            # `schema_name` is deprecated in favour of a schema in the connection config, which a
            # DuckDB URL cannot carry; it still works in GX 1.x.
            warnings.simplefilter("ignore", DeprecationWarning)
            asset = datasource.add_table_asset(
                name=contract.name, table_name=contract.name, schema_name=RAW_SCHEMA
            )
        batch = asset.add_batch_definition_whole_table("whole_table").get_batch()
        results: list[Any] = []
        with _quiet_gx_type_lookup():
            for part, result_format in zip((row_level, queries), formats, strict=True):
                if part:
                    suite = gx.ExpectationSuite(name=f"raw_{contract.name}", expectations=part)
                    results.extend(batch.validate(suite, result_format=result_format).results)
        return results
    finally:
        _dispose(context, datasource)


def _is_query(expectation: Any) -> bool:
    return type(expectation).__name__ == "UnexpectedRowsExpectation"


@contextlib.contextmanager
def _quiet_gx_type_lookup() -> Iterator[None]:
    """GX logs a warning per type check on dialects it has no type module for (DuckDB); it then
    uses SQLAlchemy's generic types, which is what the reflected DuckDB columns are."""
    logger = logging.getLogger("great_expectations.expectations.type_comparison")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _dispose(context: Any, datasource: Any) -> None:
    """Close every DuckDB connection GX opened (the file must be free for the next writer) and drop
    the datasource: GX keeps the last context in a module-level project manager, which would
    otherwise hold the engines until interpreter exit."""
    engines = [datasource.get_engine()]
    execution_engine = getattr(datasource, "_execution_engine", None)
    if execution_engine is not None:
        engines.append(getattr(execution_engine, "engine", None))
    for engine in engines:
        dispose = getattr(engine, "dispose", None)
        if dispose is not None:
            dispose()
    context.data_sources.delete(datasource.name)


# --------------------------------------------------------------------------------------------
# Folding GX results into one QualityResult per check name
# --------------------------------------------------------------------------------------------


def _fold(contract: TableContract, expectation_results: list[Any]) -> list[QualityResult]:
    per_check: dict[str, list[tuple[str, Any]]] = {}
    element_count = 0
    for r in expectation_results:
        meta = r.expectation_config.meta or {}
        per_check.setdefault(meta["check"], []).append((meta["label"], r))
        element_count = max(element_count, int((r.result or {}).get("element_count") or 0))

    results = []
    for name, severity, description in CHECKS_BY_TABLE[contract.name]:
        parts = per_check.get(name, [])
        if not parts:
            raise RuntimeError(f"no expectation was run for check {name} of {contract.name}")
        unexpected = 0
        passed = True
        sample: list[dict] = []
        notes: list[str] = []
        for label, r in parts:
            count, rows, note = _unexpected(label, contract.key, r)
            passed = passed and bool(r.success)
            unexpected += count
            if not r.success:
                notes.append(note)
                sample.extend(rows[: max(0, SAMPLE_SIZE - len(sample))])
        text = description if passed else f"{description} Failed: {'; '.join(notes)}."
        results.append(
            QualityResult(
                check_name=name,
                table=contract.name,
                severity=severity,
                passed=passed,
                unexpected_count=unexpected,
                element_count=element_count,
                description=text,
                sample=sample,
            )
        )
    return results


def _unexpected(label: str, key: tuple[str, ...], r: Any) -> tuple[int, list[dict], str]:
    """(unexpected count, sample rows, note) of one GX expectation result."""
    kind = r.expectation_config.type
    result = r.result or {}
    if r.exception_info and r.exception_info.get("raised_exception"):
        message = str(r.exception_info.get("exception_message", "")).splitlines()[0][:300]
        return 0, [{"column": label, "error": message}], f"{label}: error {message}"
    if kind == "unexpected_rows_expectation":
        count = int(result.get("observed_value") or 0)
        rows = (result.get("details") or {}).get("unexpected_rows") or []
        return count, [_jsonable(dict(row)) for row in rows[:SAMPLE_SIZE]], f"{label}: {count} rows"
    if kind == "expect_column_to_exist":
        return (0 if r.success else 1), [{"column": label, "missing": True}], f"{label}: missing"
    if kind == "expect_column_values_to_be_of_type":
        expected = r.expectation_config.kwargs.get("type_")
        observed = result.get("observed_value")
        return (
            (0 if r.success else 1),
            [{"column": label, "expected_type": expected, "observed_type": str(observed)}],
            f"{label}: {observed} is not {expected}",
        )
    count = int(result.get("unexpected_count") or 0)
    shown = list(dict.fromkeys([*key, *label.split(",")]))
    rows = [
        {"column": label, **{c: _jsonable(row.get(c)) for c in shown}}
        for row in (result.get("unexpected_rows") or [])[:SAMPLE_SIZE]
    ]
    return count, rows, f"{label}: {count} of {result.get('element_count', '?')}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return str(value)


# --------------------------------------------------------------------------------------------
# DuckDB dialect with working column reflection (see the module docstring)
# --------------------------------------------------------------------------------------------

_DIALECT_URL = "duckdb+b2b_quality"
_DIALECT_CLASS: Any = None


def _register_dialect() -> None:
    from sqlalchemy.dialects import registry

    registry.register("duckdb.b2b_quality", __name__, "DuckDBQualityDialect")


def _dialect_class() -> Any:
    global _DIALECT_CLASS
    if _DIALECT_CLASS is not None:
        return _DIALECT_CLASS
    import sqlalchemy as sa
    from duckdb_engine import Dialect

    types = {
        "VARCHAR": sa.VARCHAR,
        "TIMESTAMP": sa.TIMESTAMP,
        "DATE": sa.DATE,
        "BIGINT": sa.BIGINT,
        "INTEGER": sa.INTEGER,
        "SMALLINT": sa.SMALLINT,
        "DOUBLE": sa.DOUBLE,
        "FLOAT": sa.FLOAT,
        "BOOLEAN": sa.BOOLEAN,
    }

    class DuckDBQualityDialect(Dialect):  # type: ignore[misc, valid-type]
        """duckdb-engine, reflecting columns from `duckdb_columns()` (no pg_collation)."""

        supports_statement_cache = False

        # GX fetches a result after handing its connection back (`execute_query` returns the
        # cursor result from inside `with engine.connect()`); duckdb-engine keeps one cursor per
        # connection, so the ROLLBACK issued on release wipes the pending result. The checks
        # only read, so DuckDB's own per-statement auto-commit is all that is needed.
        def do_begin(self, dbapi_connection: Any) -> None:
            pass

        def do_rollback(self, dbapi_connection: Any) -> None:
            pass

        def do_commit(self, dbapi_connection: Any) -> None:
            pass

        def get_pk_constraint(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any):
            # Raw tables have no constraints. duckdb-engine's own lookup goes through
            # `get_table_oid`, which is `functools.cache`d with the connection in its key, so it
            # would keep engines (and DuckDB objects) alive until interpreter exit.
            return {"constrained_columns": [], "name": None}

        def get_columns(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any):
            rows = connection.execute(
                sa.text(
                    "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
                    "WHERE table_name = :table AND schema_name = coalesce(:schema, current_schema()) "
                    "ORDER BY column_index"
                ),
                {"table": str(table_name), "schema": None if schema is None else str(schema)},
            ).fetchall()
            if not rows:
                raise sa.exc.NoSuchTableError(f"{schema}.{table_name}" if schema else str(table_name))
            return [
                {
                    "name": name,
                    # Unknown DuckDB types reflect as NullType: a type check against them fails.
                    "type": types[data_type]() if data_type in types else sa.types.NullType(),
                    "nullable": bool(nullable),
                    "default": default,
                    "autoincrement": False,
                    "comment": None,
                }
                for name, data_type, nullable, default in rows
            ]

    _DIALECT_CLASS = DuckDBQualityDialect
    return _DIALECT_CLASS


def __getattr__(name: str) -> Any:
    # SQLAlchemy's dialect registry loads `DuckDBQualityDialect` by attribute name; building the
    # class lazily keeps `import b2b_scoring.lib.quality` free of SQLAlchemy and duckdb-engine.
    if name == "DuckDBQualityDialect":
        return _dialect_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
