"""Mapping files: how a source export's columns and values become the raw data contract.

A mapping is YAML. Per contract table it names the landing subfolder, where each contract column
comes from (a source column, a constant, or a template over source columns, optionally scaled),
value translations (e.g. source stage names to contract stages), placeholders that mean missing,
and extra timestamp formats. One source row can yield several contract rows (`rows:`), e.g. an
opportunity export with an engage date and a close date gives two stage-change events.
Flat CRM exports (one row per lead with an outcome column) are declared under `flat_exports`.
Every value is validated here and reaches SQL only as a parameter or a quoted identifier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from b2b_scoring.lib.contract import CONTRACTS

DEFAULT_MISSING_VALUES: tuple[str, ...] = ("",)
TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
# strptime formats reach DuckDB as SQL literals (it needs constant formats): only these characters.
TIMESTAMP_FORMAT = re.compile(r"[%A-Za-z0-9 :/.,_+\-]+")


class MappingError(ValueError):
    """A mapping file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class ColumnSource:
    """Where one contract column comes from: exactly one of column, value, template."""

    column: str | None = None
    value: str | None = None
    template: str | None = None
    multiply: float | None = None


@dataclass(frozen=True)
class RowSpec:
    """One contract row per source row: the contract columns' sources, and source columns whose
    absence means the source row yields no row of this kind (not an error)."""

    name: str
    columns: dict[str, ColumnSource]
    skip_when_missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableMapping:
    table: str
    folder: str
    rows: tuple[RowSpec, ...]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    missing_values: tuple[str, ...] = DEFAULT_MISSING_VALUES
    timestamp_formats: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlatExportMapping:
    """A flat CRM export: one row per lead, an outcome column, and columns filled in by sales
    after contact (which must never reach a model as features)."""

    name: str
    folder: str
    key: str
    outcome: str
    positive_outcome_values: tuple[str, ...]
    known_after_contact: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = DEFAULT_MISSING_VALUES


@dataclass(frozen=True)
class SourceMapping:
    tables: dict[str, TableMapping]
    flat_exports: dict[str, FlatExportMapping] = field(default_factory=dict)
    origin: str = "identity mapping"


def identity_table_mapping(table: str) -> TableMapping:
    """Files already in the contract: same folder and column names."""
    return TableMapping(table=table, folder=table, rows=(RowSpec(name=table, columns={}),))


def identity_mapping() -> SourceMapping:
    return SourceMapping(tables={name: identity_table_mapping(name) for name in CONTRACTS})


def load_mapping(path: Path) -> SourceMapping:
    """Read and validate a mapping file; errors name the file and the offending field."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise MappingError(f"{path}: cannot read mapping: {error}") from None
    return parse_mapping(document, origin=str(path))


def parse_mapping(document: Any, origin: str = "mapping") -> SourceMapping:
    where = _Where(origin)
    document = where.mapping(document, "")
    where.only_keys(document, {"tables", "flat_exports"}, "")
    tables_section = where.mapping(document.get("tables") or {}, "tables")
    unknown = sorted(set(tables_section) - set(CONTRACTS))
    if unknown:
        raise where.error(
            f"tables.{unknown[0]}", f"not a contract table (expected one of {sorted(CONTRACTS)})"
        )
    tables = {
        name: _parse_table(where, name, where.mapping(spec or {}, f"tables.{name}"))
        for name, spec in tables_section.items()
    }
    exports_section = where.mapping(document.get("flat_exports") or {}, "flat_exports")
    flat_exports = {
        name: _parse_flat_export(where, name, where.mapping(spec, f"flat_exports.{name}"))
        for name, spec in exports_section.items()
    }
    if not tables and not flat_exports:
        raise where.error("", "maps no table and no flat export")
    return SourceMapping(tables=tables, flat_exports=flat_exports, origin=origin)


def _parse_table(where: _Where, table: str, spec: dict) -> TableMapping:
    at = f"tables.{table}"
    where.only_keys(spec, {"folder", "columns", "rows", "values", "missing_values", "timestamp_formats"}, at)
    if "columns" in spec and "rows" in spec:
        raise where.error(at, "give either columns (one row per source row) or rows, not both")
    contract_columns = set(CONTRACTS[table].column_names)
    if "rows" in spec:
        row_specs = where.sequence(spec["rows"], f"{at}.rows")
        if not row_specs:
            raise where.error(f"{at}.rows", "is empty")
        rows = tuple(
            _parse_row_spec(where, where.mapping(row, f"{at}.rows[{i}]"), f"{at}.rows[{i}]", contract_columns)
            for i, row in enumerate(row_specs)
        )
        names = [r.name for r in rows]
        if len(set(names)) != len(names):
            raise where.error(f"{at}.rows", f"row names must be unique, got {names}")
    else:
        rows = (
            _parse_row_spec(
                where, {"name": table, "columns": spec.get("columns") or {}}, at, contract_columns
            ),
        )
    values = where.mapping(spec.get("values") or {}, f"{at}.values")
    for column, translation in values.items():
        if column not in contract_columns:
            raise where.error(f"{at}.values.{column}", f"not a column of {table}")
        where.mapping(translation, f"{at}.values.{column}")
    return TableMapping(
        table=table,
        folder=where.text(spec.get("folder", table), f"{at}.folder"),
        rows=rows,
        values={c: {str(k): str(v) for k, v in t.items()} for c, t in values.items()},
        missing_values=where.texts(
            spec.get("missing_values", list(DEFAULT_MISSING_VALUES)), f"{at}.missing_values"
        ),
        timestamp_formats=_timestamp_formats(
            where, spec.get("timestamp_formats", []), f"{at}.timestamp_formats"
        ),
    )


def _timestamp_formats(where: _Where, value: Any, at: str) -> tuple[str, ...]:
    formats = where.texts(value, at)
    for i, fmt in enumerate(formats):
        if not TIMESTAMP_FORMAT.fullmatch(fmt) or "%" not in fmt:
            raise where.error(
                f"{at}[{i}]", f"{fmt!r} is not a strptime format (letters, digits, % : / . , _ + - space)"
            )
    return formats


def _parse_row_spec(where: _Where, spec: dict, at: str, contract_columns: set[str]) -> RowSpec:
    where.only_keys(spec, {"name", "columns", "skip_when_missing"}, at)
    columns: dict[str, ColumnSource] = {}
    for column, source in where.mapping(spec.get("columns") or {}, f"{at}.columns").items():
        if column not in contract_columns:
            raise where.error(
                f"{at}.columns.{column}",
                f"not a contract column (expected one of {sorted(contract_columns)})",
            )
        columns[column] = _parse_column_source(where, source, f"{at}.columns.{column}")
    return RowSpec(
        name=where.text(spec.get("name", "rows"), f"{at}.name"),
        columns=columns,
        skip_when_missing=where.texts(spec.get("skip_when_missing", []), f"{at}.skip_when_missing"),
    )


def _parse_column_source(where: _Where, source: Any, at: str) -> ColumnSource:
    if isinstance(source, str):
        return ColumnSource(column=source)
    spec = where.mapping(source, at)
    where.only_keys(spec, {"column", "value", "template", "multiply"}, at)
    given = [k for k in ("column", "value", "template") if k in spec]
    if len(given) != 1:
        raise where.error(at, "give exactly one of column, value, template")
    multiply = spec.get("multiply")
    if multiply is not None and (isinstance(multiply, bool) or not isinstance(multiply, int | float)):
        raise where.error(f"{at}.multiply", f"must be a number, got {multiply!r}")
    template = spec.get("template")
    if template is not None and not TEMPLATE_FIELD.findall(where.text(template, f"{at}.template")):
        raise where.error(f"{at}.template", "names no source column in {braces}")
    value = spec.get("value")
    return ColumnSource(
        column=where.text(spec["column"], f"{at}.column") if "column" in spec else None,
        value=None if value is None else str(value),
        template=template,
        multiply=None if multiply is None else float(multiply),
    )


def _parse_flat_export(where: _Where, name: str, spec: dict) -> FlatExportMapping:
    at = f"flat_exports.{name}"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise where.error(at, "export names are lower-case snake_case (they name the raw table)")
    where.only_keys(
        spec,
        {"folder", "key", "outcome", "positive_outcome_values", "known_after_contact", "missing_values"},
        at,
    )
    for required in ("key", "outcome", "positive_outcome_values"):
        if required not in spec:
            raise where.error(f"{at}.{required}", "is required")
    return FlatExportMapping(
        name=name,
        folder=where.text(spec.get("folder", name), f"{at}.folder"),
        key=where.text(spec["key"], f"{at}.key"),
        outcome=where.text(spec["outcome"], f"{at}.outcome"),
        positive_outcome_values=where.texts(spec["positive_outcome_values"], f"{at}.positive_outcome_values"),
        known_after_contact=where.texts(spec.get("known_after_contact", []), f"{at}.known_after_contact"),
        missing_values=where.texts(
            spec.get("missing_values", list(DEFAULT_MISSING_VALUES)), f"{at}.missing_values"
        ),
    )


@dataclass(frozen=True)
class _Where:
    origin: str

    def error(self, at: str, problem: str) -> MappingError:
        return MappingError(f"{self.origin}: {at or 'top level'}: {problem}")

    def mapping(self, value: Any, at: str) -> dict:
        if not isinstance(value, MappingType):
            raise self.error(at, f"must be a mapping, got {type(value).__name__}")
        return dict(value)

    def sequence(self, value: Any, at: str) -> list:
        if not isinstance(value, list):
            raise self.error(at, f"must be a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, at: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(at, f"must be text, got {value!r}")
        return str(value)

    def texts(self, value: Any, at: str) -> tuple[str, ...]:
        return tuple(self.text(v, f"{at}[{i}]") for i, v in enumerate(self.sequence(value, at)))

    def only_keys(self, spec: dict, allowed: set[str], at: str) -> None:
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise self.error(
                f"{at}.{unknown[0]}" if at else unknown[0], f"unknown field (allowed: {sorted(allowed)})"
            )
