"""Mapping files: every shipped example parses (and the Marketo / Salesforce sample ingests), and
invalid mappings fail with a MappingError naming the file and the field path."""

from __future__ import annotations

import datetime
from pathlib import Path

import duckdb
import pytest

from b2b_scoring.lib.contract import CONTRACTS, EVENT_TYPES, OPPORTUNITY_STAGES
from b2b_scoring.lib.ingestion import MappingError, ingest_landing, load_mapping
from b2b_scoring.lib.ingestion.mapping import ColumnSource

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
MAPPINGS = EXAMPLES / "mappings"
CORPUS = Path(__file__).resolve().parent / "ingestion_corpus"
SHIPPED = ["simulator.yaml", "maven_crm.yaml", "x_education_leads.yaml", "marketo_salesforce.yaml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_example_mapping_parses(name: str) -> None:
    path = MAPPINGS / name
    assert path.read_text(encoding="utf-8").startswith("#"), "each example starts with a header comment"
    mapping = load_mapping(path)
    assert mapping.origin == str(path)
    assert mapping.tables or mapping.flat_exports


def test_every_mapping_in_examples_and_the_corpus_parses() -> None:
    paths = sorted(MAPPINGS.glob("*.yaml")) + sorted(CORPUS.glob("*/mapping.yaml"))
    assert {p.name for p in MAPPINGS.glob("*.yaml")} == set(SHIPPED)
    for path in paths:
        load_mapping(path)


def test_simulator_mapping_is_the_identity_spelled_out() -> None:
    mapping = load_mapping(MAPPINGS / "simulator.yaml")
    assert set(mapping.tables) == set(CONTRACTS) and not mapping.flat_exports
    for name, table in mapping.tables.items():
        assert table.folder == name
        [rows] = table.rows
        assert rows.columns == {c: ColumnSource(column=c) for c in CONTRACTS[name].column_names}
        assert not table.values and not rows.skip_when_missing


def test_maven_mapping_shape() -> None:
    mapping = load_mapping(MAPPINGS / "maven_crm.yaml")
    assert set(mapping.tables) == {"accounts", "opportunity_events"}
    accounts = mapping.tables["accounts"]
    assert accounts.folder == "accounts"
    [account_rows] = accounts.rows
    assert account_rows.columns["annual_revenue"] == ColumnSource(column="revenue", multiply=1_000_000.0)
    assert account_rows.columns["created_at"].value is not None
    assert accounts.values["industry"] == {"technolgy": "technology"}
    events = mapping.tables["opportunity_events"]
    assert events.folder == "sales_pipeline"
    engaged, closed = events.rows
    assert (engaged.name, engaged.skip_when_missing) == ("engaged", ("engage_date",))
    assert (closed.name, closed.skip_when_missing) == ("closed", ("close_date",))
    assert engaged.columns["event_id"].template == "{opportunity_id}-engaged"
    assert closed.columns["event_id"].template == "{opportunity_id}-closed"
    assert engaged.columns["new_value"].value in OPPORTUNITY_STAGES
    assert set(events.values["new_value"].values()) <= set(OPPORTUNITY_STAGES)


def test_x_education_mapping_shape() -> None:
    mapping = load_mapping(MAPPINGS / "x_education_leads.yaml")
    assert not mapping.tables
    export = mapping.flat_exports["x_education_leads"]
    assert (export.key, export.outcome, export.positive_outcome_values) == (
        "Prospect ID",
        "Converted",
        ("1",),
    )
    assert export.missing_values == ("", "Select")
    assert {"Tags", "Lead Quality", "Lead Profile", "Last Activity", "Last Notable Activity"} <= set(
        export.known_after_contact
    )
    assert all(c.startswith("Asymmetrique") for c in export.known_after_contact[5:])


def test_marketo_salesforce_mapping_translates_to_the_contract_vocabulary() -> None:
    mapping = load_mapping(MAPPINGS / "marketo_salesforce.yaml")
    assert set(mapping.tables) == {
        "accounts",
        "persons",
        "experience_events",
        "opportunity_events",
        "sales_dispositions",
    }
    assert set(mapping.tables["experience_events"].values["event_type"].values()) <= set(EVENT_TYPES)
    opportunity_values = mapping.tables["opportunity_events"].values
    assert set(opportunity_values["new_value"].values()) <= set(OPPORTUNITY_STAGES)
    assert opportunity_values["old_value"] == opportunity_values["new_value"]
    for table in mapping.tables.values():
        assert "%m/%d/%Y %I:%M %p" in table.timestamp_formats


def test_marketo_salesforce_sample_ingests_cleanly_through_its_mapping() -> None:
    mapping = load_mapping(MAPPINGS / "marketo_salesforce.yaml")
    with duckdb.connect() as con:
        reports = ingest_landing(
            con, EXAMPLES / "marketo_salesforce_sample", mapping, now=datetime.datetime(2025, 6, 1)
        )
        by_table = {r.table: r for r in reports}
        assert set(by_table) == set(mapping.tables)
        for report in reports:
            assert report.reconciles and not report.errors, report.to_dict()
            assert report.rows_quarantined == report.exact_duplicates_dropped == report.rows_skipped == 0
            assert report.warnings == {}, report.to_dict()
            assert report.rows_loaded >= 3
        assert con.execute(
            "SELECT count(*) FROM raw.experience_events e "
            "WHERE NOT EXISTS (SELECT 1 FROM raw.persons p WHERE p.person_key = e.person_key)"
        ).fetchall() == [(0,)]
        assert con.execute(
            "SELECT count(*) FROM raw.opportunity_events o "
            "WHERE NOT EXISTS (SELECT 1 FROM raw.accounts a WHERE a.account_key = o.account_key)"
        ).fetchall() == [(0,)]
        assert con.execute(
            "SELECT count(*) FROM raw.persons p WHERE account_key IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM raw.accounts a WHERE a.account_key = p.account_key)"
        ).fetchall() == [(0,)]
        # Both Salesforce date styles: API with an offset, and a US-locale report export.
        assert con.execute(
            "SELECT created_at FROM raw.accounts WHERE account_key = '0015g00000QdVzSAAV'"
        ).fetchall() == [(datetime.datetime(2024, 6, 12, 9, 31, 44),)]
        assert con.execute(
            "SELECT created_at FROM raw.persons WHERE person_key = '00Q5g00000Fh3Y0EAJ'"
        ).fetchall() == [(datetime.datetime(2025, 3, 1, 14, 5),)]
        assert con.execute(
            "SELECT new_value FROM raw.opportunity_events WHERE attribute_name = 'Stage' ORDER BY timestamp"
        ).fetchall() == [("Qualification",), ("Closed Lost",), ("Proposal",), ("Contract",)]


# --- invalid mappings --------------------------------------------------------------------------

INVALID = {
    "unknown_table": (
        "tables:\n  leads:\n    columns: {person_key: Id}\n",
        "tables.leads",
        "not a contract table",
    ),
    "unknown_column": (
        "tables:\n  persons:\n    columns: {person_key: Id, full_name: Name}\n",
        "tables.persons.columns.full_name",
        "not a contract column",
    ),
    "unknown_column_in_row_spec": (
        "tables:\n  opportunity_events:\n    rows:\n      - name: a\n        columns: {event_id: id}\n"
        "      - name: b\n        columns: {stage: StageName}\n",
        "tables.opportunity_events.rows[1].columns.stage",
        "not a contract column",
    ),
    "columns_and_rows": (
        "tables:\n  opportunity_events:\n    columns: {event_id: Id}\n    rows:\n      - name: a\n",
        "tables.opportunity_events",
        "not both",
    ),
    "template_without_column": (
        "tables:\n  persons:\n    columns:\n      person_key: {template: lead-without-braces}\n",
        "tables.persons.columns.person_key.template",
        "names no source column",
    ),
    "non_numeric_multiply": (
        "tables:\n  accounts:\n    columns:\n"
        "      annual_revenue: {column: revenue, multiply: one million}\n",
        "tables.accounts.columns.annual_revenue.multiply",
        "must be a number",
    ),
    "boolean_multiply": (
        "tables:\n  accounts:\n    columns:\n      annual_revenue: {column: revenue, multiply: true}\n",
        "tables.accounts.columns.annual_revenue.multiply",
        "must be a number",
    ),
    "two_sources": (
        "tables:\n  persons:\n    columns:\n      country: {column: Country, value: Germany}\n",
        "tables.persons.columns.country",
        "exactly one of column, value, template",
    ),
    "flat_export_missing_key": (
        "flat_exports:\n  leads:\n    outcome: Converted\n    positive_outcome_values: ['1']\n",
        "flat_exports.leads.key",
        "is required",
    ),
    "flat_export_missing_outcome_values": (
        "flat_exports:\n  leads:\n    key: Prospect ID\n    outcome: Converted\n",
        "flat_exports.leads.positive_outcome_values",
        "is required",
    ),
    "bad_export_name": (
        "flat_exports:\n  Leads Export:\n    key: Id\n    outcome: Converted\n"
        "    positive_outcome_values: ['1']\n",
        "flat_exports.Leads Export",
        "snake_case",
    ),
    "unknown_field_in_table": (
        "tables:\n  persons:\n    delimiter: ';'\n",
        "tables.persons.delimiter",
        "unknown field",
    ),
    "unknown_field_in_column_source": (
        "tables:\n  persons:\n    columns:\n      country: {column: Country, default: Germany}\n",
        "tables.persons.columns.country.default",
        "unknown field",
    ),
    "unknown_field_in_flat_export": (
        "flat_exports:\n  leads:\n    key: Id\n    outcome: Converted\n    positive_outcome_values: ['1']\n"
        "    leakage: [Tags]\n",
        "flat_exports.leads.leakage",
        "unknown field",
    ),
    "unknown_top_level_field": (
        "table:\n  persons: {}\n",
        "table",
        "unknown field",
    ),
    "values_for_unknown_column": (
        "tables:\n  experience_events:\n    values:\n"
        "      type: {Visit Webpage: web.webpagedetails.pageViews}\n",
        "tables.experience_events.values.type",
        "not a column of experience_events",
    ),
    "unsafe_timestamp_format": (
        'tables:\n  persons:\n    timestamp_formats: ["%Y-%m-%d\'); DROP TABLE raw.persons; --"]\n',
        "tables.persons.timestamp_formats[0]",
        "not a strptime format",
    ),
    "duplicate_row_names": (
        "tables:\n  opportunity_events:\n    rows:\n      - name: a\n      - name: a\n",
        "tables.opportunity_events.rows",
        "unique",
    ),
    "empty_rows": (
        "tables:\n  opportunity_events:\n    rows: []\n",
        "tables.opportunity_events.rows",
        "is empty",
    ),
    "nothing_mapped": (
        "tables: {}\n",
        "top level",
        "maps no table",
    ),
    "columns_not_a_mapping": (
        "tables:\n  persons:\n    columns: [person_key, created_at]\n",
        "tables.persons.columns",
        "must be a mapping",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_mapping_names_the_file_and_the_field(tmp_path: Path, case: str) -> None:
    text, field_path, problem = INVALID[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as raised:
        load_mapping(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {field_path}: "), message
    assert problem in message, message


def test_unreadable_yaml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("tables:\n  persons: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match="broken.yaml: cannot read mapping"):
        load_mapping(broken)
    with pytest.raises(MappingError, match="absent.yaml: cannot read mapping"):
        load_mapping(tmp_path / "absent.yaml")
