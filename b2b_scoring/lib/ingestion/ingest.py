"""Ingest landing files into `raw.<table>`, with bad rows kept in `quarantine.<table>`.

For one contract table: every CSV / Parquet file in its landing folder is read by DuckDB, mapped
to the contract (columns, constants, templates, value translations, missing-value placeholders),
typed with TRY_CAST / strptime, and checked row by row in SQL. Rows that break a rule go to
quarantine with the source file, row number, the failed rules and the original values; exact
duplicates are dropped and counted; when one key appears with different values, the row from the
latest file (last row within a file) wins and the others are quarantined. Counts reconcile:
rows read = loaded + quarantined + exact duplicates dropped + rows the mapping skips.
A file that cannot be read at all fails the whole table: nothing partial is loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from b2b_scoring.lib import contract
from b2b_scoring.lib.exports import export_csv
from b2b_scoring.lib.ingestion.mapping import ColumnSource, FlatExportMapping, SourceMapping, TableMapping
from b2b_scoring.lib.sql import quote_identifier, transaction

RAW_SCHEMA = "raw"
QUARANTINE_SCHEMA = "quarantine"
TIMESTAMP_FLOOR = dt.datetime(1990, 1, 1)
FUTURE_TOLERANCE = dt.timedelta(days=1)
DEFAULT_TIMESTAMP_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%S.%g%z",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
)
LoadMode = Literal["upsert", "replace"]
READABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")
ENUMERATIONS: dict[str, tuple[str, str, tuple[str, ...], str | None]] = {
    # table: (warning name, column, known values, only where attribute_name = 'Stage')
    "experience_events": ("unknown_event_type", "event_type", contract.EVENT_TYPES, None),
    "opportunity_events": (
        "unknown_stage",
        "new_value",
        contract.OPPORTUNITY_STAGES,
        contract.STAGE_ATTRIBUTE,
    ),
    "sales_dispositions": ("unknown_disposition", "disposition", contract.DISPOSITIONS, None),
}


class IngestionError(Exception):
    """A landing file cannot be read at all; nothing of its table was loaded."""

    def __init__(self, file: Path | str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = str(file)
        self.problem = problem


@dataclass
class TableReport:
    table: str
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    exact_duplicates_dropped: int = 0
    rows_skipped: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        accounted = (
            self.rows_loaded + self.rows_quarantined + self.exact_duplicates_dropped + self.rows_skipped
        )
        return self.rows_read == accounted

    def to_dict(self) -> dict:
        return {**asdict(self), "reconciles": self.reconciles}


def landing_files(folder: Path) -> list[Path]:
    """The files of a landing folder, in name order (later names win on conflicting keys)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    for path in files:
        if path.suffix.lower() not in READABLE_SUFFIXES:
            raise IngestionError(
                path, f"not a CSV or Parquet file (expected one of {', '.join(READABLE_SUFFIXES)})"
            )
    return files


def ingest_landing(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    mapping: SourceMapping,
    *,
    dry_run: bool = False,
    mode: LoadMode = "upsert",
    now: dt.datetime | None = None,
) -> list[TableReport]:
    """Ingest every mapped table whose landing folder exists, then every flat export; a table
    whose files cannot be read is reported with its error and loads nothing."""
    reports = []
    for table_mapping in mapping.tables.values():
        if not (Path(landing_dir) / table_mapping.folder).is_dir():
            continue
        try:
            reports.append(ingest_table(con, landing_dir, table_mapping, dry_run=dry_run, mode=mode, now=now))
        except IngestionError as error:
            reports.append(
                TableReport(
                    table=table_mapping.table, errors=[{"file": error.file, "problem": error.problem}]
                )
            )
    for export in mapping.flat_exports.values():
        try:
            reports.append(ingest_flat_export(con, landing_dir, export, dry_run=dry_run))
        except IngestionError as error:
            reports.append(
                TableReport(table=export.name, errors=[{"file": error.file, "problem": error.problem}])
            )
    return reports


@dataclass(frozen=True)
class _SourceFile:
    index: int  # position in name order; rows carry it instead of the path
    path: Path
    relation: str  # a temp table or view holding the file, with _source_row
    columns: dict[str, tuple[str, str]]  # lower-cased name -> (name, DuckDB type)


class _Params:
    """Values of one ingestion, as columns of a one-row temp table `_params`: views can use them
    and values never become SQL text."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self._shared: dict[str, list[str]] = {}

    def add(self, value: object) -> str:
        name = f"__b2b_param_{len(self.values)}"
        self.values[name] = value
        return f"_params.{name}"

    def shared_each(self, label: str, values: tuple[str, ...]) -> list[str]:
        """One parameter per value, registered once for all the places that use them."""
        if label not in self._shared:
            self._shared[label] = [self.add(v) for v in values]
        return self._shared[label]

    def create(self, con: duckdb.DuckDBPyConnection) -> None:
        columns = ", ".join(f"${name} AS {name}" for name in self.values) or "1 AS unused"
        con.execute(f"CREATE TEMP TABLE _params AS SELECT {columns}", self.values)


def ingest_table(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    table_mapping: TableMapping,
    *,
    dry_run: bool = False,
    mode: LoadMode = "upsert",
    now: dt.datetime | None = None,
    window: tuple[dt.datetime, dt.datetime] | None = None,
) -> TableReport:
    """Ingest the landing files of one contract table (only rows whose time is in the half-open
    window, when given, replacing that window). Raises IngestionError for an unreadable file.
    Duplicate keys are resolved among the rows read: with a window, a key repeated in another
    window (an event whose time was corrected) is left to the key_unique quality check."""
    table = contract.CONTRACTS[table_mapping.table]
    folder = Path(landing_dir) / table_mapping.folder
    if not folder.is_dir():
        raise IngestionError(folder, f"landing folder of table {table.name!r} not found")
    now = naive_utc(now or dt.datetime.now(dt.UTC))
    if window is not None:
        window = (naive_utc(window[0]), naive_utc(window[1]))
    report = TableReport(table=table.name)
    _prepare_session(con)
    with _session(con):
        files = [_open_file(con, path, i) for i, path in enumerate(landing_files(folder))]
        report.files = [str(f.path) for f in files]
        params = _Params()
        in_scope = "true"
        if window is not None:
            if table.time_column is None:
                raise ValueError(f"table {table.name!r} has no time column and cannot be loaded by window")
            time_column = quote_identifier(table.time_column)
            in_scope = (
                f"(mapped.{time_column} IS NULL OR (mapped.{time_column} >= {params.add(window[0])} "
                f"AND mapped.{time_column} < {params.add(window[1])}))"
            )
        selects = [
            _mapped_select(table, table_mapping, source, spec_index, params, now)
            for source in files
            for spec_index in range(len(table_mapping.rows))
        ]
        if not selects:
            return report
        params.create(con)
        _register_provenance(con, files, [spec.name for spec in table_mapping.rows])
        # Only the window's rows (and rows without a valid time) are staged: a daily run reads
        # one day from time-sorted Parquet instead of all of history.
        con.execute(
            f"CREATE TEMP TABLE _staged AS SELECT mapped.*, {_key_hash(table, 'mapped.')} AS _key_hash "
            f"FROM ({' UNION ALL '.join(selects)}) AS mapped, _params WHERE {in_scope}"
        )
        _find_exceptions(con, table)
        _exclude_exceptions(con)
        _count_exceptions(con, report)
        if dry_run:
            report.rows_loaded = _count_loadable(con)
        else:
            report.rows_loaded = _write(con, table, files, mode, window)
            report.warnings = _enumeration_warnings(con, table)
        report.rows_read = con.execute("SELECT count(*) FROM _staged").fetchall()[0][0]
    return report


def _prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    # Naive contract timestamps are UTC; offsets in the data are converted to it.
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")


def landing_signatures(landing_dir: Path, mapping: SourceMapping) -> dict[str, str]:
    """Every mapped landing file with its modification time and size, to notice new or changed
    files ("size:mtime_ns" by path relative to the landing folder)."""
    signatures = {}
    folders = [t.folder for t in mapping.tables.values()] + [e.folder for e in mapping.flat_exports.values()]
    for folder in dict.fromkeys(folders):
        path = Path(landing_dir) / folder
        if path.is_dir():
            for file in path.iterdir():
                if file.is_file() and not file.name.startswith("."):
                    stat = file.stat()
                    signatures[str(file.relative_to(landing_dir))] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return signatures


def changed_landing_files(seen_cursor: str | None, current: dict[str, str]) -> list[str]:
    """The files of `current` (from `landing_signatures`) new or changed since the signatures in
    a sensor's JSON cursor."""
    seen: dict[str, str] = json.loads(seen_cursor) if seen_cursor else {}
    return sorted(path for path, signature in current.items() if seen.get(path) != signature)


def landing_run_key(current: dict[str, str], changed: list[str]) -> str:
    """A run key for the changed files' signatures: the same files launch one run, once."""
    return hashlib.sha256(json.dumps({path: current[path] for path in changed}).encode()).hexdigest()[:20]


def time_range(
    con: duckdb.DuckDBPyConnection, table_mapping: TableMapping, paths: list[Path]
) -> tuple[dt.datetime, dt.datetime] | None:
    """Earliest and latest valid time of the contract rows in the given landing files (None when
    they hold none), read with the table's mapping; nothing is written."""
    table = contract.CONTRACTS[table_mapping.table]
    if table.time_column is None:
        raise ValueError(f"table {table.name!r} has no time column")
    _prepare_session(con)
    with _session(con):
        params = _Params()
        now = naive_utc(dt.datetime.now(dt.UTC))
        selects = [
            _mapped_select(table, table_mapping, source, spec_index, params, now)
            for source in (_open_file(con, path, i) for i, path in enumerate(paths))
            for spec_index in range(len(table_mapping.rows))
        ]
        if not selects:
            return None
        params.create(con)
        time_column = quote_identifier(table.time_column)
        earliest, latest = con.execute(
            f"SELECT min({time_column}), max({time_column}) FROM ({' UNION ALL '.join(selects)}) "
            f"WHERE {VALID}"
        ).fetchall()[0]
    if earliest is None:
        return None
    return _as_datetime(earliest), _as_datetime(latest)


def _as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())


@contextmanager
def _session(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction for the whole table; temp objects are dropped whatever happens."""
    try:
        with transaction(con):
            yield
    finally:
        for name, kind in con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = 'temp'"
        ).fetchall():
            con.execute(
                f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS temp.{quote_identifier(name)}"
            )


def _open_file(con: duckdb.DuckDBPyConnection, path: Path, index: int) -> _SourceFile:
    """Read one landing file into a temp relation with its 1-based data row number."""
    if path.stat().st_size == 0:
        raise IngestionError(path, "empty file (0 bytes)")
    relation = f"_file_{index}"
    try:
        if path.suffix.lower() == ".parquet":
            con.execute(
                f"CREATE TEMP VIEW {relation} AS SELECT * EXCLUDE (file_row_number), "
                f"file_row_number + 1 AS _source_row "
                f"FROM read_parquet('{_path_literal(path)}', file_row_number = true)"
            )
        else:
            # All text: the contract decides types, and keys like "00123" keep their zeros.
            con.execute(
                f"CREATE TEMP TABLE {relation} AS SELECT *, row_number() OVER () AS _source_row "
                f"FROM read_csv('{_path_literal(path)}', header = true, all_varchar = true)"
            )
        described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as error:
        raise IngestionError(
            path, f"cannot be read as {path.suffix.lstrip('.').upper()}: {_explanation(error)}"
        ) from None
    columns = {
        name.lower(): (name, column_type) for name, column_type, *_ in described if name != "_source_row"
    }
    return _SourceFile(index=index, path=path, relation=relation, columns=columns)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """The same moment as a naive UTC datetime (how the warehouse stores times)."""
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def _path_literal(path: Path) -> str:
    # Table functions need a constant path; the path is ours (a landing file), quotes doubled.
    return str(path).replace("'", "''")


def _explanation(error: Exception) -> str:
    """DuckDB's message without its suggestions (which name options of DuckDB, not the data)."""
    lines = []
    for line in str(error).strip().splitlines():
        if line.strip().lower().startswith("possible solution"):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines)[:500]


def _mapped_select(
    table: contract.TableContract,
    table_mapping: TableMapping,
    source: _SourceFile,
    spec_index: int,
    params: _Params,
    now: dt.datetime,
) -> str:
    """SELECT of the contract columns (typed), the broken rules (NULL when none) and the
    provenance of each row."""
    spec = table_mapping.rows[spec_index]

    def missing_values() -> list[str]:
        return params.shared_each("missing_values", table_mapping.missing_values)

    def formats() -> str:
        # DuckDB needs constant strptime formats; mapping.py admits only characters that are safe
        # inside a SQL string literal, so they are inlined.
        listed = [*table_mapping.timestamp_formats, *DEFAULT_TIMESTAMP_FORMATS]
        return "[" + ", ".join(f"'{fmt}'" for fmt in listed) + "]"

    def source_column(name: str, at: str) -> tuple[str, str]:
        found = source.columns.get(name.lower())
        if found is None:
            raise IngestionError(source.path, f"column {name!r} (mapped to {at}) is not in the file")
        column_name, column_type = found
        reference = quote_identifier(column_name)
        if column_type != "VARCHAR":
            return reference, column_type
        return _unless_missing(reference, missing_values()), "VARCHAR"

    typed: list[str] = []
    reasons: list[str] = []
    for column in table.columns:
        column_source = spec.columns.get(column.name)
        if column_source is None and column.name.lower() in source.columns:
            column_source = ColumnSource(column=column.name)
        if column_source is None:
            if column.required:
                raise IngestionError(
                    source.path,
                    f"missing required column {column.name!r} of table {table.name!r} "
                    f"(found: {', '.join(n for n, _ in source.columns.values()) or 'none'})",
                )
            typed.append(f"CAST(NULL AS {column.duckdb_type}) AS {quote_identifier(column.name)}")
            continue
        value, value_type = _source_value(column_source, column.name, source_column, params)
        translation = table_mapping.values.get(column.name)
        if translation:
            cases = " ".join(f"WHEN {params.add(k)} THEN {params.add(v)}" for k, v in translation.items())
            value, value_type = (
                f"(CASE CAST({value} AS VARCHAR) {cases} ELSE CAST({value} AS VARCHAR) END)",
                "VARCHAR",
            )
        parsed = _typed_value(value, value_type, column.duckdb_type, formats)
        typed.append(f"{parsed} AS {quote_identifier(column.name)}")
        name = params.add(column.name)
        if column.required:
            reasons.append(f"CASE WHEN {value} IS NULL THEN 'missing_required:' || {name} END")
        reasons.append(
            f"CASE WHEN {value} IS NOT NULL AND {parsed} IS NULL THEN 'unparseable:' || {name} END"
        )
        if column.duckdb_type in ("TIMESTAMP", "DATE"):
            latest, earliest = params.add(now + FUTURE_TOLERANCE), params.add(TIMESTAMP_FLOOR)
            reasons.append(f"CASE WHEN {parsed} > {latest} THEN 'timestamp_in_future:' || {name} END")
            reasons.append(f"CASE WHEN {parsed} < {earliest} THEN 'timestamp_before_floor:' || {name} END")
    skipped = " OR ".join(
        f"{source_column(c, 'skip_when_missing')[0]} IS NULL" for c in spec.skip_when_missing
    )
    return (
        f"SELECT {', '.join(typed)}, "
        f"{_reasons_expression(reasons)} AS _reasons, "
        f"{skipped or 'false'} AS _skipped, "
        f"{source.index} AS _file, _source_row, {spec_index} AS _spec, false AS _excluded "
        f"FROM {source.relation}, _params"
    )


def _unless_missing(reference: str, missing_values: list[str]) -> str:
    """The text, or NULL when it is (after trimming) one of the placeholders meaning missing.
    (Comparisons with scalar parameters: list_contains doubles the cost on large files.)"""
    if not missing_values:
        return reference
    return f"(CASE WHEN trim({reference}) IN ({', '.join(missing_values)}) THEN NULL ELSE {reference} END)"


def _reasons_expression(reasons: list[str]) -> str:
    """The broken rules of a row, or NULL for a clean row (the list is built only for bad rows)."""
    if not reasons:
        return "CAST(NULL AS VARCHAR[])"
    bad = " OR ".join(f"({r}) IS NOT NULL" for r in reasons)
    return f"CASE WHEN {bad} THEN list_filter([{', '.join(reasons)}], lambda r: r IS NOT NULL) END"


def _source_value(
    column_source: ColumnSource, target: str, source_column, params: _Params
) -> tuple[str, str]:
    if column_source.value is not None:
        value, value_type = params.add(column_source.value), "VARCHAR"
    elif column_source.template is not None:
        parts = re.split(r"(\{[^{}]+\})", column_source.template)
        pieces = []
        for part in parts:
            if part.startswith("{") and part.endswith("}"):
                reference, _ = source_column(part[1:-1], target)
                pieces.append(f"CAST({reference} AS VARCHAR)")
            elif part:
                pieces.append(params.add(part))
        value, value_type = "(" + " || ".join(pieces) + ")", "VARCHAR"
    else:
        value, value_type = source_column(column_source.column, target)
    if column_source.multiply is not None:
        value, value_type = f"(TRY_CAST({value} AS DOUBLE) * {params.add(column_source.multiply)})", "DOUBLE"
    return value, value_type


def _typed_value(value: str, value_type: str, target_type: str, formats: Callable[[], str]) -> str:
    """SQL typing `value` as the contract type; NULL where it does not parse."""
    if value_type == target_type:
        return value
    if target_type in ("TIMESTAMP", "DATE") and value_type == "VARCHAR":
        # ISO 8601 first (offsets honoured, the session is UTC), then the mapping's formats;
        # DuckDB's words 'infinity' / '-infinity' are not times.
        parsed = (
            f"coalesce(CAST(TRY_CAST(trim({value}) AS TIMESTAMPTZ) AS TIMESTAMP), "
            f"CAST(try_strptime(trim({value}), {formats()}) AS TIMESTAMP))"
        )
        parsed = f"(CASE WHEN isfinite({parsed}) THEN {parsed} END)"
        return parsed if target_type == "TIMESTAMP" else f"CAST({parsed} AS DATE)"
    if target_type == "BIGINT":
        # Whole numbers only: a count of 12.5 is an error to show, not a value to round.
        number = f"TRY_CAST(trim(CAST({value} AS VARCHAR)) AS DOUBLE)"
        return f"(CASE WHEN {number} = trunc({number}) THEN TRY_CAST({number} AS BIGINT) END)"
    if target_type == "DOUBLE" and value_type == "VARCHAR":
        return f"TRY_CAST(trim({value}) AS DOUBLE)"
    return f"TRY_CAST({value} AS {target_type})"


def _key_columns(table: contract.TableContract) -> list[str]:
    return [quote_identifier(c) for c in table.key]


def _key_hash(table: contract.TableContract, prefix: str = "") -> str:
    """Hash of a row's key, computed once while staging: grouping hashes is much cheaper than
    grouping text keys, and a collision only ranks a few more rows by their real key."""
    return f"hash({', '.join(prefix + c for c in _key_columns(table))})"


VALID = "_reasons IS NULL AND NOT _skipped"
# Rows carry small integers (file, spec) instead of names; `_register_provenance` maps them back.
PROVENANCE = "_file, _source_row, _spec"
NEWEST_FIRST = "_file DESC, _source_row DESC"


def _find_exceptions(con: duckdb.DuckDBPyConnection, table: contract.TableContract) -> None:
    """The few rows that are not simply loaded: skipped, broken, or sharing a key. Of the rows
    sharing a key, the latest file's last row is loaded; older identical copies are exact
    duplicates, older different versions are quarantined as duplicate_key."""
    keys = ", ".join(_key_columns(table))
    columns = ", ".join(quote_identifier(c) for c in table.column_names)
    con.execute(
        f"""
        CREATE TEMP TABLE _exceptions AS
        WITH repeated AS (
            SELECT _key_hash FROM _staged WHERE {VALID} GROUP BY _key_hash HAVING count(*) > 1
        ),
        ranked AS (
            SELECT {PROVENANCE},
                   row_number() OVER (PARTITION BY {columns} ORDER BY {NEWEST_FIRST}) AS _copy,
                   row_number() OVER (PARTITION BY {keys} ORDER BY {NEWEST_FIRST}) AS _key_rank
            FROM _staged
            WHERE {VALID} AND _key_hash IN (SELECT _key_hash FROM repeated)
        )
        SELECT {PROVENANCE},
               CASE WHEN _copy > 1 THEN 'exact_duplicate' ELSE 'duplicate_key' END AS _outcome,
               ['duplicate_key'] AS reasons
        FROM ranked WHERE _key_rank > 1
        UNION ALL
        SELECT {PROVENANCE},
               CASE WHEN _skipped THEN 'skipped' ELSE 'quarantined' END, _reasons
        FROM _staged WHERE NOT ({VALID})
        """
    )


def _exclude_exceptions(con: duckdb.DuckDBPyConnection) -> None:
    """Flag the staged rows that are not loaded (few), so loading needs no anti-join."""
    con.execute(
        "UPDATE _staged s SET _excluded = true FROM _exceptions e WHERE e._file = s._file "
        "AND e._source_row = s._source_row AND e._spec = s._spec"
    )


def _count_exceptions(con: duckdb.DuckDBPyConnection, report: TableReport) -> None:
    counts = dict(con.execute("SELECT _outcome, count(*) FROM _exceptions GROUP BY 1").fetchall())
    report.exact_duplicates_dropped = counts.get("exact_duplicate", 0)
    report.rows_skipped = counts.get("skipped", 0)
    report.rows_quarantined = counts.get("quarantined", 0) + counts.get("duplicate_key", 0)
    report.quarantined_by_reason = dict(
        con.execute(
            "SELECT reason, count(*) FROM (SELECT unnest(reasons) AS reason FROM _exceptions "
            "WHERE _outcome IN ('quarantined', 'duplicate_key')) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )


def _loadable_rows(columns: str) -> str:
    return f"SELECT {columns} FROM _staged WHERE {VALID} AND NOT _excluded"


def _count_loadable(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"SELECT count(*) FROM ({_loadable_rows('1')})").fetchall()[0][0]


def _write(
    con: duckdb.DuckDBPyConnection,
    table: contract.TableContract,
    files: list[_SourceFile],
    mode: LoadMode,
    window: tuple[dt.datetime, dt.datetime] | None,
) -> int:
    """Write the loadable rows to raw.<table> and the exceptions to quarantine; rows written."""
    target = ensure_raw_table(con, table)
    columns = ", ".join(quote_identifier(c) for c in table.column_names)
    if window is not None:
        time_column = quote_identifier(table.time_column)
        con.execute(
            f"DELETE FROM {target} WHERE {time_column} >= $start AND {time_column} < $end",
            {"start": window[0], "end": window[1]},
        )
    elif mode == "replace":
        con.execute(f"DELETE FROM {target}")
    else:
        matches = " AND ".join(f"t.{c} IS NOT DISTINCT FROM n.{c}" for c in _key_columns(table))
        keys = ", ".join(_key_columns(table))
        con.execute(
            f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM ({_loadable_rows(keys)}) n WHERE {matches})"
        )
    written = con.execute(f"INSERT INTO {target} ({columns}) {_loadable_rows(columns)}").fetchall()[0][0]
    _write_quarantine(con, table.name, files, replace_all=mode == "replace" and window is None)
    return written


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: contract.TableContract) -> str:
    """Create raw.<table> with the contract's columns if it does not exist; its qualified name."""
    target = f"{RAW_SCHEMA}.{quote_identifier(table.name)}"
    definitions = ", ".join(f"{quote_identifier(c.name)} {c.duckdb_type}" for c in table.columns)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {target} ({definitions})")
    return target


def _register_provenance(con: duckdb.DuckDBPyConnection, files: list[_SourceFile], specs: list[str]) -> None:
    con.execute("CREATE TEMP TABLE _file_names (file INTEGER, path VARCHAR)")
    con.executemany("INSERT INTO _file_names VALUES (?, ?)", [(f.index, str(f.path)) for f in files])
    con.execute("CREATE TEMP TABLE _spec_names (spec INTEGER, name VARCHAR)")
    con.executemany("INSERT INTO _spec_names VALUES (?, ?)", list(enumerate(specs)))


def _write_quarantine(
    con: duckdb.DuckDBPyConnection, table: str, files: list[_SourceFile], replace_all: bool
) -> None:
    """Quarantined rows with their original source values; a row quarantined again (same file,
    row and row kind) replaces its earlier entry, so re-ingesting a file adds nothing."""
    target = f"{QUARANTINE_SCHEMA}.{quote_identifier(table)}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {QUARANTINE_SCHEMA}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {target} (source_file VARCHAR, source_row BIGINT, row_spec VARCHAR, "
        f"reasons VARCHAR[], original JSON, ingested_at TIMESTAMP)"
    )
    quarantined = "_outcome IN ('quarantined', 'duplicate_key')"
    if replace_all:
        con.execute(f"DELETE FROM {target}")
    else:
        con.execute(
            f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM _exceptions q "
            f"JOIN _file_names n ON n.file = q._file JOIN _spec_names r ON r.spec = q._spec "
            f"WHERE {quarantined} AND n.path = t.source_file AND q._source_row = t.source_row "
            f"AND r.name = t.row_spec)"
        )
    for source in files:
        original = ", ".join(
            f"{quote_identifier(name)} := CAST(f.{quote_identifier(name)} AS VARCHAR)"
            for name, _ in source.columns.values()
        )
        con.execute(
            f"""
            INSERT INTO {target}
            SELECT n.path, q._source_row, r.name, q.reasons,
                   to_json(struct_pack({original})) AS original, now()::TIMESTAMP
            FROM _exceptions q
            JOIN {source.relation} f ON f._source_row = q._source_row
            JOIN _file_names n ON n.file = q._file
            JOIN _spec_names r ON r.spec = q._spec
            WHERE {quarantined} AND q._file = {source.index}
            """
        )


def export_quarantine(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> int:
    """Write quarantine.<table> to a spreadsheet-safe CSV for review; returns the rows written."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _quarantine_export AS SELECT source_file, source_row, row_spec, "
        f"array_to_string(reasons, '; ') AS reasons, CAST(original AS VARCHAR) AS original, ingested_at "
        f"FROM {QUARANTINE_SCHEMA}.{quote_identifier(table)} ORDER BY source_file, source_row"
    )
    try:
        return export_csv(con, "_quarantine_export", path)
    finally:
        con.execute("DROP VIEW IF EXISTS _quarantine_export")


def _enumeration_warnings(con: duckdb.DuckDBPyConnection, table: contract.TableContract) -> dict[str, int]:
    """Loaded rows whose enumeration value the contract does not know (kept, counted)."""
    if table.name not in ENUMERATIONS:
        return {}
    warning, column, known, attribute = ENUMERATIONS[table.name]
    condition = f"NOT list_contains($known, {quote_identifier(column)})"
    params: dict[str, object] = {"known": list(known)}
    if attribute is not None:
        condition += " AND attribute_name = $attribute"
        params["attribute"] = attribute
    unknown = con.execute(
        f"SELECT count(*) FROM ({_loadable_rows('*')}) WHERE {condition}", params
    ).fetchall()[0][0]
    return {warning: unknown} if unknown else {}


def snake_case(name: str) -> str:
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "_", name.strip()).strip("_").lower()
    return cleaned if cleaned and not cleaned[0].isdigit() else f"c_{cleaned}"


def ingest_flat_export(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, export: FlatExportMapping, *, dry_run: bool = False
) -> TableReport:
    """Load a flat CRM export to raw.<name> (all columns as text, plus the boolean `outcome`) and
    record each column's role in raw.flat_export_columns. The whole export is replaced."""
    folder = Path(landing_dir) / export.folder
    if not folder.is_dir():
        raise IngestionError(folder, f"landing folder of flat export {export.name!r} not found")
    report = TableReport(table=export.name)
    _prepare_session(con)
    with _session(con):
        files = [_open_file(con, path, i) for i, path in enumerate(landing_files(folder))]
        report.files = [str(f.path) for f in files]
        if not files:
            return report
        source_names = list(dict.fromkeys(name for f in files for name, _ in f.columns.values()))
        targets = _unique_snake_names(source_names)
        for required in (export.key, export.outcome):
            for f in files:
                if required.lower() not in f.columns:
                    raise IngestionError(
                        f.path, f"missing column {required!r} named in flat export {export.name!r}"
                    )
        params = _Params()
        missing = [params.add(v) for v in export.missing_values]
        positive = params.add(list(export.positive_outcome_values))
        selects = []
        for f in files:
            values = []
            for name in source_names:
                found = f.columns.get(name.lower())
                value = "CAST(NULL AS VARCHAR)"
                if found is not None:
                    value = _unless_missing(f"CAST({quote_identifier(found[0])} AS VARCHAR)", missing)
                values.append(f"{value} AS {quote_identifier(targets[name])}")
            selects.append(
                f"SELECT {', '.join(values)}, {f.index} AS _file, _source_row FROM {f.relation}, _params"
            )
        key_name = targets[_source_name(source_names, export.key)]
        key = quote_identifier(key_name)
        outcome = quote_identifier(targets[_source_name(source_names, export.outcome)])
        reasons = [
            f"CASE WHEN {key} IS NULL THEN 'missing_required:' || {params.add(export.key)} END",
            f"CASE WHEN {outcome} IS NULL THEN 'missing_required:' || {params.add(export.outcome)} END",
        ]
        flat_contract = contract.TableContract(
            name=export.name,
            description=f"flat export {export.name}",
            key=(key_name,),
            columns=tuple(contract.Column(targets[n], "VARCHAR") for n in source_names),
        )
        params.create(con)
        _register_provenance(con, files, ["rows"])
        con.execute(
            f"""
            CREATE TEMP TABLE _staged AS
            SELECT *, list_contains({positive}, trim({outcome})) AS outcome,
                   {_reasons_expression(reasons)} AS _reasons,
                   false AS _skipped, 0 AS _spec, false AS _excluded, {_key_hash(flat_contract)} AS _key_hash
            FROM ({" UNION ALL ".join(selects)}), _params
            """
        )
        _find_exceptions(con, flat_contract)
        _exclude_exceptions(con)
        _count_exceptions(con, report)
        report.rows_read = con.execute("SELECT count(*) FROM _staged").fetchall()[0][0]
        if dry_run:
            report.rows_loaded = _count_loadable(con)
            return report
        target = f"{RAW_SCHEMA}.{quote_identifier(export.name)}"
        loaded_columns = ", ".join(
            [*(quote_identifier(targets[n]) for n in source_names), "outcome", "_file", "_source_row"]
        )
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
        con.execute(
            f"CREATE OR REPLACE TABLE {target} AS SELECT loaded.* EXCLUDE (_file), n.path AS _source_file "
            f"FROM ({_loadable_rows(loaded_columns)}) AS loaded JOIN _file_names n ON n.file = loaded._file "
            f"ORDER BY _source_file, _source_row"
        )
        report.rows_loaded = con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
        _write_quarantine(con, export.name, files, replace_all=True)
        roles = {
            export.key: "key",
            export.outcome: "outcome",
            **dict.fromkeys(export.known_after_contact, "known_after_contact"),
        }
        con.execute(
            "CREATE TABLE IF NOT EXISTS raw.flat_export_columns "
            "(export VARCHAR, column_name VARCHAR, source_column VARCHAR, role VARCHAR)"
        )
        con.execute("DELETE FROM raw.flat_export_columns WHERE export = ?", [export.name])
        con.executemany(
            "INSERT INTO raw.flat_export_columns VALUES (?, ?, ?, ?)",
            [
                (export.name, targets[n], n, roles.get(_declared_name(roles, n), "attribute"))
                for n in source_names
            ],
        )
    return report


def _unique_snake_names(names: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    used: set[str] = {"outcome"}
    for name in names:
        candidate = snake_case(name)
        base, n = candidate, 2
        while candidate in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        result[name] = candidate
    return result


def _source_name(names: list[str], wanted: str) -> str:
    return next(n for n in names if n.lower() == wanted.lower())


def _declared_name(roles: dict[str, str], name: str) -> str:
    return next((declared for declared in roles if declared.lower() == name.lower()), name)
