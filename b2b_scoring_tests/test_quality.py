"""GX data-quality checks of the raw tables (b2b_scoring.lib.quality), on small DuckDB files."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.quality import CHECKS_BY_TABLE, QualityResult, Severity, raw_table_checks

NOW = dt.datetime(2025, 7, 1, 12, 0)
T = dt.datetime(2025, 6, 1, 9, 30)

CLEAN: dict[str, list[dict[str, Any]]] = {
    "persons": [
        {"person_key": "p1", "created_at": T, "account_key": "a1", "email": "ann@acme.com"},
        {"person_key": "p2", "created_at": T, "email": "bob@gmail.com"},
    ],
    "accounts": [
        {
            "account_key": "a1",
            "created_at": T,
            "account_name": "Acme",
            "number_of_employees": 120,
            "annual_revenue": 5e6,
        },
        {"account_key": "a2", "created_at": T, "number_of_employees": 0},
    ],
    "experience_events": [
        {"event_id": "e1", "person_key": "p1", "timestamp": T, "event_type": "web.webpagedetails.pageViews"},
        {
            "event_id": "e2",
            "person_key": "p2",
            "timestamp": T,
            "event_type": "leadOperation.convertLead",
            "converted_status": "converted",
        },
        {
            "event_id": "e3",
            "person_key": "p1",
            "timestamp": dt.datetime(1990, 1, 1),
            "event_type": "directMarketing.emailOpened",
        },
    ],
    "opportunity_events": [
        {
            "event_id": "o1",
            "opportunity_key": "op1",
            "account_key": "a1",
            "timestamp": T,
            "attribute_name": "Stage",
            "new_value": "Prospecting",
            "amount": 1000.0,
        },
        {
            "event_id": "o2",
            "opportunity_key": "op1",
            "account_key": "a1",
            "timestamp": T,
            "attribute_name": "Owner",
            "new_value": "Someone",
            "old_value": "Nobody",
        },
    ],
    "intent_signals": [
        {
            "account_key": "a1",
            "topic": "crm",
            "signal_date": dt.date(2025, 6, 1),
            "intensity": 100.0,
            "provider": "bombora",
        },
        {
            "domain": "acme.com",
            "topic": "crm",
            "signal_date": dt.date(2025, 6, 1),
            "intensity": 0.0,
            "provider": "bombora",
        },
        {"account_key": "a1", "topic": "crm", "signal_date": dt.date(2025, 6, 1)},
    ],
    "sales_dispositions": [
        {"person_key": "p1", "disposition": "accepted", "timestamp": T},
        {"person_key": "p1", "disposition": "rejected", "timestamp": T},
    ],
}


def make_warehouse(path: Path, extra: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """A DuckDB file with every raw table of the contract, the CLEAN rows and `extra` rows."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        for contract in CONTRACTS.values():
            columns = ", ".join(f'"{c.name}" {c.duckdb_type}' for c in contract.columns)
            con.execute(f"CREATE TABLE raw.{contract.name} ({columns})")
            for row in CLEAN[contract.name] + (extra or {}).get(contract.name, []):
                names = ", ".join(f'"{name}"' for name in row)
                marks = ", ".join("?" for _ in row)
                con.execute(f"INSERT INTO raw.{contract.name} ({names}) VALUES ({marks})", list(row.values()))
    return path


def by_name(results: list[QualityResult]) -> dict[str, QualityResult]:
    return {r.check_name: r for r in results}


def failed(results: list[QualityResult]) -> dict[str, QualityResult]:
    return {r.check_name: r for r in results if not r.passed}


@pytest.fixture(scope="module")
def clean_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_warehouse(tmp_path_factory.mktemp("clean") / "warehouse.duckdb")


def test_checks_by_table_is_declared_without_database_or_gx() -> None:
    code = (
        "import sys; from b2b_scoring.lib.quality import CHECKS_BY_TABLE; "
        "assert 'great_expectations' not in sys.modules and 'sqlalchemy' not in sys.modules; "
        "print(len(CHECKS_BY_TABLE))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(len(CONTRACTS))
    assert set(CHECKS_BY_TABLE) == set(CONTRACTS)
    for checks in CHECKS_BY_TABLE.values():
        names = [name for name, _, _ in checks]
        assert len(names) == len(set(names))
        assert all(name.isidentifier() and name == name.lower() for name in names)
        assert all(isinstance(sev, Severity) and description for _, sev, description in checks)
    assert ("event_type_known", Severity.WARN) in [(n, s) for n, s, _ in CHECKS_BY_TABLE["experience_events"]]
    assert ("person_exists", Severity.WARN) in [(n, s) for n, s, _ in CHECKS_BY_TABLE["experience_events"]]
    assert ("key_unique", Severity.ERROR) in [(n, s) for n, s, _ in CHECKS_BY_TABLE["intent_signals"]]


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_clean_tables_pass_every_declared_check(clean_warehouse: Path, table: str) -> None:
    results = raw_table_checks(clean_warehouse, table, now=NOW)
    assert [(r.check_name, r.severity) for r in results] == [(n, s) for n, s, _ in CHECKS_BY_TABLE[table]]
    for r in results:
        assert r.passed, r
        assert (r.unexpected_count, r.sample, r.table) == (0, [], table)
        assert r.element_count == len(CLEAN[table])
        assert r.description == dict((n, d) for n, _, d in CHECKS_BY_TABLE[table])[r.check_name]


def test_planted_errors_in_experience_events(tmp_path: Path) -> None:
    page_view = "web.webpagedetails.pageViews"
    path = make_warehouse(
        tmp_path / "w.duckdb",
        {
            "experience_events": [
                {"event_id": "n1", "person_key": "p1", "timestamp": T, "event_type": None},
                {"event_id": "n2", "person_key": None, "timestamp": None, "event_type": page_view},
                {"event_id": "e1", "person_key": "p2", "timestamp": T, "event_type": page_view},  # dup key
                {
                    "event_id": "f1",
                    "person_key": "p1",
                    "timestamp": dt.datetime(2025, 7, 3),
                    "event_type": page_view,
                },
                {
                    "event_id": "old",
                    "person_key": "p1",
                    "timestamp": dt.datetime(1970, 1, 1),
                    "event_type": page_view,
                },
                {"event_id": "u1", "person_key": "p1", "timestamp": T, "event_type": "web.somethingNew"},
                {"event_id": "u2", "person_key": "p2", "timestamp": T, "event_type": "web.somethingNew"},
                {"event_id": "g1", "person_key": "ghost", "timestamp": T, "event_type": page_view},
            ]
        },
    )
    results = by_name(raw_table_checks(path, "experience_events", now=NOW))
    bad = failed(results.values())
    assert set(bad) == {
        "required_not_null",
        "key_unique",
        "timestamps_in_range",
        "event_type_known",
        "person_exists",
    }
    assert {r.element_count for r in results.values()} == {11}

    nulls = bad["required_not_null"]
    assert (nulls.severity, nulls.unexpected_count) == (Severity.ERROR, 3)  # 3 NULL cells
    assert "event_type: 1 of 11" in nulls.description and "person_key: 1 of 11" in nulls.description
    assert {(s["column"], s["event_id"]) for s in nulls.sample} == {
        ("event_type", "n1"),
        ("person_key", "n2"),
        ("timestamp", "n2"),
    }

    dup = bad["key_unique"]
    assert (dup.severity, dup.unexpected_count) == (Severity.ERROR, 2)  # both rows carrying e1
    assert [s["event_id"] for s in dup.sample] == ["e1", "e1"]

    times = bad["timestamps_in_range"]
    assert (times.severity, times.unexpected_count) == (Severity.ERROR, 2)
    assert sorted(s["timestamp"] for s in times.sample) == ["1970-01-01T00:00:00", "2025-07-03T00:00:00"]

    unknown = bad["event_type_known"]
    assert (unknown.severity, unknown.unexpected_count) == (Severity.WARN, 2)
    assert {s["event_type"] for s in unknown.sample} == {"web.somethingNew"}

    orphan = bad["person_exists"]
    assert (orphan.severity, orphan.unexpected_count) == (Severity.WARN, 1)
    assert orphan.sample == [{"event_id": "g1", "person_key": "ghost"}]
    json.dumps([r.sample for r in results.values()])


def test_planted_errors_in_persons_and_accounts(tmp_path: Path) -> None:
    path = make_warehouse(
        tmp_path / "w.duckdb",
        {
            "persons": [
                {"person_key": "p1", "created_at": T},
                {"person_key": "p1", "created_at": T},
                {"person_key": "p3", "created_at": None},
            ],
            "accounts": [
                {"account_key": "a3", "created_at": T, "number_of_employees": -5},
                {
                    "account_key": "a4",
                    "created_at": T,
                    "annual_revenue": -1.0,
                    "number_of_employees": 50_000_000,
                },
            ],
        },
    )
    persons = failed(raw_table_checks(path, "persons", now=NOW))
    assert set(persons) == {"required_not_null", "key_unique"}
    assert persons["key_unique"].unexpected_count == 3  # three rows share p1
    assert persons["required_not_null"].sample == [
        {"column": "created_at", "person_key": "p3", "created_at": None}
    ]

    accounts = failed(raw_table_checks(path, "accounts", now=NOW))
    assert set(accounts) == {"values_in_range"}
    values = accounts["values_in_range"]
    assert (values.severity, values.unexpected_count) == (Severity.ERROR, 3)
    assert {(s["column"], s["account_key"]) for s in values.sample} == {
        ("number_of_employees", "a3"),
        ("number_of_employees", "a4"),
        ("annual_revenue", "a4"),
    }


def test_opportunity_stage_only_checked_on_stage_rows_and_orphans_warn(tmp_path: Path) -> None:
    path = make_warehouse(
        tmp_path / "w.duckdb",
        {
            "opportunity_events": [
                {
                    "event_id": "o3",
                    "opportunity_key": "op1",
                    "account_key": "a1",
                    "timestamp": T,
                    "attribute_name": "Stage",
                    "new_value": "Negotiation",
                },
                {
                    "event_id": "o4",
                    "opportunity_key": "op2",
                    "account_key": "a9",
                    "timestamp": T,
                    "attribute_name": "Owner",
                    "new_value": "Not a stage",
                    "amount": -10.0,
                },
            ]
        },
    )
    bad = failed(raw_table_checks(path, "opportunity_events", now=NOW))
    assert set(bad) == {"opportunity_stage_known", "account_exists", "values_in_range"}
    stage = bad["opportunity_stage_known"]
    assert (stage.severity, stage.unexpected_count) == (Severity.WARN, 1)
    assert stage.sample == [{"column": "new_value", "event_id": "o3", "new_value": "Negotiation"}]
    assert (bad["account_exists"].severity, bad["account_exists"].unexpected_count) == (Severity.WARN, 1)
    assert bad["account_exists"].sample == [{"event_id": "o4", "account_key": "a9"}]
    assert bad["values_in_range"].unexpected_count == 1


def test_intent_signals_null_key_parts_compare_equal(tmp_path: Path) -> None:
    day = dt.date(2025, 6, 1)
    path = make_warehouse(
        tmp_path / "w.duckdb",
        {
            "intent_signals": [
                # Same account, topic, day and (missing) provider as a CLEAN row: a duplicate.
                {"account_key": "a1", "topic": "crm", "signal_date": day, "intensity": 40.0},
                {"topic": "erp", "signal_date": day, "intensity": 101.0},  # no account, no domain
                {"domain": "acme.com", "topic": "crm", "signal_date": dt.date(1989, 12, 31)},
            ]
        },
    )
    bad = failed(raw_table_checks(path, "intent_signals", now=NOW))
    assert set(bad) == {"key_unique", "account_or_domain_present", "values_in_range", "timestamps_in_range"}
    assert bad["key_unique"].unexpected_count == 2
    assert bad["key_unique"].sample[0] == {
        "account_key": "a1",
        "domain": None,
        "topic": "crm",
        "signal_date": "2025-06-01",
        "provider": None,
    }
    assert bad["account_or_domain_present"].unexpected_count == 1
    assert bad["values_in_range"].sample[0]["intensity"] == 101.0
    assert bad["timestamps_in_range"].sample[0]["signal_date"] == "1989-12-31"


def test_sales_dispositions_compound_key_enum_and_orphans(tmp_path: Path) -> None:
    path = make_warehouse(
        tmp_path / "w.duckdb",
        {
            "sales_dispositions": [
                {"person_key": "p1", "disposition": "accepted", "timestamp": T},  # duplicate key
                {"person_key": "p2", "disposition": "maybe", "timestamp": T},
                {"person_key": "nobody", "disposition": "nurture", "timestamp": T},
            ]
        },
    )
    results = raw_table_checks(path, "sales_dispositions", now=NOW)
    bad = failed(results)
    assert set(bad) == {"key_unique", "disposition_known", "person_exists"}
    assert (bad["key_unique"].severity, bad["key_unique"].unexpected_count) == (Severity.ERROR, 2)
    assert (bad["disposition_known"].severity, bad["disposition_known"].unexpected_count) == (
        Severity.WARN,
        1,
    )
    assert bad["person_exists"].sample[0]["person_key"] == "nobody"
    assert not any(
        r.severity is Severity.ERROR for r in results if not r.passed and r.check_name != "key_unique"
    )


def test_missing_column_and_wrong_type_fail_without_crashing(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.persons (person_key VARCHAR, created_at VARCHAR, email VARCHAR)")
        con.execute("INSERT INTO raw.persons VALUES ('p1', '2025-01-01', NULL)")
        con.execute("CREATE TABLE raw.accounts (created_at TIMESTAMP)")
    persons = by_name(raw_table_checks(path, "persons", now=NOW))
    types = persons["column_types_match"]
    assert not types.passed and types.severity is Severity.ERROR
    assert {"column": "created_at", "expected_type": "TIMESTAMP", "observed_type": "VARCHAR"} in types.sample
    assert persons["required_columns_present"].passed
    accounts = by_name(raw_table_checks(path, "accounts", now=NOW))
    present = accounts["required_columns_present"]
    assert (present.passed, present.unexpected_count) == (False, 1)
    assert present.sample == [{"column": "account_key", "missing": True}]
    assert not accounts["required_not_null"].passed  # its expectation errors on the missing column


def test_now_bounds_timestamps_and_file_stays_unlocked(tmp_path: Path) -> None:
    path = make_warehouse(tmp_path / "w.duckdb")
    late = failed(raw_table_checks(path, "experience_events", now=dt.datetime(2025, 5, 1)))
    assert late["timestamps_in_range"].unexpected_count == 2  # the two events at T = 2025-06-01
    aware = dt.datetime(2025, 6, 1, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))  # 2025-05-31 21:00 UTC
    assert failed(raw_table_checks(path, "experience_events", now=aware)) == {}
    # The checks opened the file read-only and closed it: a writer can take it right away.
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO raw.persons (person_key, created_at) VALUES ('p9', ?)", [T])


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.duckdb"):
        raw_table_checks(tmp_path / "nope.duckdb", "persons")
