"""Real exports through their shipped mappings: the Maven CRM opportunities (accounts + pipeline)
and the X Education Leads.csv flat export, with reconciled counts.

The data lives outside the repository (../shared/data, read-only, see each SOURCE.md); the files
are symlinked into a temporary landing folder, never copied into the repo. Skipped when absent.
"""

from __future__ import annotations

import datetime
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from b2b_scoring.lib.ingestion import TableReport, ingest_landing, load_mapping

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MAVEN = SHARED_DATA / "maven_crm_sales_opportunities"
LEADS = SHARED_DATA / "x_education_leads"
MAPPINGS = REPO / "examples" / "mappings"
NOW = datetime.datetime(2026, 1, 1)


def require(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"real data not available (../shared/data is absent here): missing {', '.join(missing)}")


def reconciled(reports: list[TableReport]) -> dict[str, TableReport]:
    for report in reports:
        assert not report.errors, report.to_dict()
        assert report.reconciles, report.to_dict()
        assert report.rows_read == (
            report.rows_loaded
            + report.rows_quarantined
            + report.exact_duplicates_dropped
            + report.rows_skipped
        )
    return {report.table: report for report in reports}


@contextmanager
def ingested(tmp_path_factory: pytest.TempPathFactory, mapping: str, files: dict[str, Path]):
    """Symlink the real files into a fresh landing folder (folder -> file), ingest them through
    the shipped mapping into an in-memory DuckDB, and yield it with the reconciled reports."""
    require(*files.values())
    landing = tmp_path_factory.mktemp("landing")
    for folder, source in files.items():
        (landing / folder).mkdir()
        (landing / folder / source.name).symlink_to(source)
    with duckdb.connect() as con:
        reports = ingest_landing(con, landing, load_mapping(MAPPINGS / mapping), now=NOW)
        yield con, reconciled(reports)


@pytest.fixture(scope="module")
def maven(tmp_path_factory: pytest.TempPathFactory):
    files = {"accounts": MAVEN / "accounts.csv", "sales_pipeline": MAVEN / "sales_pipeline.csv"}
    with ingested(tmp_path_factory, "maven_crm.yaml", files) as loaded:
        yield loaded


def test_maven_accounts(maven) -> None:
    con, reports = maven
    accounts = reports["accounts"]
    assert (accounts.rows_read, accounts.rows_loaded, accounts.rows_quarantined) == (85, 85, 0)
    assert con.execute(
        "SELECT account_name, created_at, industry, number_of_employees, annual_revenue, country "
        "FROM raw.accounts WHERE account_key = 'Acme Corporation'"
    ).fetchall() == [
        (
            "Acme Corporation",
            datetime.datetime(2016, 10, 20),
            "technology",
            2822,
            pytest.approx(1100.04e6),
            "United States",
        )
    ]
    industries = {
        row[0]: row[1]
        for row in con.execute("SELECT industry, count(*) FROM raw.accounts GROUP BY 1").fetchall()
    }
    assert "technolgy" not in industries and industries["technology"] == 12
    assert con.execute("SELECT count(*) FROM raw.accounts WHERE country = 'Philippines'").fetchall() == [(1,)]


def test_maven_pipeline_becomes_engaged_and_closed_stage_events(maven) -> None:
    con, reports = maven
    events = reports["opportunity_events"]
    # 8,800 opportunities x 2 row kinds. Engaged: 8,300 have an engage_date (Prospecting rows do
    # not); 1,088 of them (Engaging, empty account) are quarantined. Closed: the 6,711 Won/Lost.
    assert events.rows_read == 2 * 8_800
    assert events.rows_skipped == 500 + 2_089
    assert events.quarantined_by_reason == {"missing_required:account_key": 1_088}
    assert events.rows_quarantined == 1_088
    assert events.exact_duplicates_dropped == 0
    assert events.rows_loaded == (8_300 - 1_088) + 6_711
    assert events.warnings == {}
    assert con.execute(
        "SELECT old_value, new_value, count(*), count(amount) FROM raw.opportunity_events "
        "WHERE attribute_name = 'Stage' GROUP BY ALL ORDER BY 1, 2"
    ).fetchall() == [
        ("Prospecting", "Qualification", 7_212, 0),
        ("Qualification", "Closed Lost", 2_473, 2_473),
        ("Qualification", "Closed Won", 4_238, 4_238),
    ]
    assert con.execute(
        "SELECT event_id, opportunity_key, account_key, timestamp, amount FROM raw.opportunity_events "
        "WHERE opportunity_key = '1C1I7A6R' ORDER BY timestamp"
    ).fetchall() == [
        ("1C1I7A6R-engaged", "1C1I7A6R", "Cancity", datetime.datetime(2016, 10, 20), None),
        ("1C1I7A6R-closed", "1C1I7A6R", "Cancity", datetime.datetime(2017, 3, 1), 1054.0),
    ]
    # Every loaded event's account is a known account.
    assert con.execute(
        "SELECT count(*) FROM raw.opportunity_events o "
        "WHERE NOT EXISTS (SELECT 1 FROM raw.accounts a WHERE a.account_key = o.account_key)"
    ).fetchall() == [(0,)]


def test_maven_empty_account_rows_are_quarantined_with_their_original_values(maven) -> None:
    con, _ = maven
    assert con.execute(
        "SELECT row_spec, reasons, count(*), count(DISTINCT source_row), "
        "count(*) FILTER (WHERE original->>'deal_stage' = 'Engaging' AND original->>'account' IS NULL) "
        "FROM quarantine.opportunity_events GROUP BY ALL"
    ).fetchall() == [("engaged", ["missing_required:account_key"], 1_088, 1_088, 1_088)]


@pytest.fixture(scope="module")
def leads(tmp_path_factory: pytest.TempPathFactory):
    with ingested(
        tmp_path_factory, "x_education_leads.yaml", {"x_education_leads": LEADS / "Leads.csv"}
    ) as loaded:
        yield loaded


def test_leads_flat_export_loads_every_lead_with_its_outcome(leads) -> None:
    con, reports = leads
    report = reports["x_education_leads"]
    assert (
        report.rows_read,
        report.rows_loaded,
        report.rows_quarantined,
        report.exact_duplicates_dropped,
    ) == (
        9_240,
        9_240,
        0,
        0,
    )
    assert con.execute(
        "SELECT count(*), count(*) FILTER (WHERE outcome), count(DISTINCT prospect_id) "
        "FROM raw.x_education_leads"
    ).fetchall() == [(9_240, 3_561, 9_240)]
    assert con.execute(
        "SELECT count(*) FROM raw.x_education_leads WHERE outcome <> (converted = '1')"
    ).fetchall() == [(0,)]
    # "Select" means nothing was selected: it is loaded as missing.
    assert con.execute(
        "SELECT count(*) FROM raw.x_education_leads WHERE 'Select' IN (specialization, lead_profile, city)"
    ).fetchall() == [(0,)]


def test_leads_column_roles_are_recorded(leads) -> None:
    con, _ = leads
    roles = dict(
        con.execute(
            "SELECT source_column, role FROM raw.flat_export_columns WHERE export = 'x_education_leads'"
        ).fetchall()
    )
    assert len(roles) == 37
    assert roles["Prospect ID"] == "key" and roles["Converted"] == "outcome"
    assert {c for c, role in roles.items() if role == "known_after_contact"} == {
        "Tags",
        "Lead Quality",
        "Lead Profile",
        "Last Activity",
        "Last Notable Activity",
        "Asymmetrique Activity Index",
        "Asymmetrique Profile Index",
        "Asymmetrique Activity Score",
        "Asymmetrique Profile Score",
    }
    assert roles["Total Time Spent on Website"] == "attribute"
    assert sum(role == "attribute" for role in roles.values()) == 37 - 2 - 9


def test_leads_csv_backtest_reaches_the_quality_bar_and_names_the_post_contact_columns() -> None:
    from b2b_scoring.lib.ml.flat_file import backtest_flat_file

    csv = LEADS / "Leads.csv"
    require(csv)
    all_columns = backtest_flat_file(csv, "Converted", missing_values=["Select"])
    assert all_columns["n"] == 9240 and all_columns["excluded_identifiers"] == ["Lead Number", "Prospect ID"]
    assert all_columns["auc"] >= 0.98
    suspects = {s["column"]: s["blocking"] for s in all_columns["leakage_suspects"]}
    assert suspects == {"Tags": True, "Lead Quality": False}
    post_contact = ["Tags", "Lead Quality", "Last Activity", "Last Notable Activity"]
    marked = backtest_flat_file(csv, "Converted", post_contact=post_contact, missing_values=["Select"])
    assert marked["auc"] >= 0.87 and marked["leakage_suspects"] == []
    assert marked["calibration_error"] < 0.03
    assert marked["auc"] > marked["baselines"]["logistic_regression"]["auc"]
