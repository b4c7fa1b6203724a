"""The sales view joins fit, look-alike, intent and buying committee per account into an action,
a call rank and a `why`, and exports them spreadsheet-safe."""

import csv
import datetime
from pathlib import Path

import duckdb
import pytest

from b2b_scoring.lib.insights.sales_view import (
    SALES_VIEW_TABLE,
    export_sales_view,
    missing_inputs,
    write_sales_view,
)

DAY = datetime.date(2025, 7, 1)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        """
        CREATE SCHEMA staging; CREATE SCHEMA scores; CREATE SCHEMA insights;
        CREATE TABLE staging.stg_accounts AS SELECT * FROM (VALUES
            ('A1', 'Acme Corp'), ('A2', '=HYPERLINK("x")'), ('A3', 'Globex'), ('A4', 'Initech'),
            ('S1', 'Seed One'), ('S2', 'Seed Two')) AS t(account_key, account_name);
        CREATE TABLE scores.account_scores AS SELECT * FROM (VALUES
            ('A1', 'deal', DATE '2025-07-01', 0.5, 90, 'A', [{'reason': 'Industry: Software'}]),
            ('A2', 'deal', DATE '2025-07-01', 0.3, 70, 'B', [{'reason': 'Employees: 2,000'}]),
            ('A3', 'deal', DATE '2025-07-01', 0.1, 20, 'C', []),
            ('A4', 'deal', DATE '2025-07-01', 0.05, 10, 'C', []),
            ('A1', 'deal', DATE '2025-06-30', 0.5, 90, 'A', []))
            AS t(account_key, goal, score_date, probability, score, tier, influential_factors);
        CREATE TABLE insights.account_intent AS SELECT * FROM (VALUES
            ('A1', DATE '2025-07-01', 'crm', 80.0, 'High', ['CRM', 'Sales Tools'], 'rising'),
            ('A1', DATE '2025-07-01', 'ads', 20.0, 'Low', ['Ads'], 'steady'),
            ('A2', DATE '2025-07-01', 'crm', 10.0, 'None', [], 'none'),
            ('A3', DATE '2025-07-01', 'crm', 50.0, 'Medium', ['CRM'], 'falling'))
            AS t(account_key, as_of_date, product_line, intent_score, intent_level, top_topics, trend);
        CREATE TABLE insights.account_buying_committee AS SELECT * FROM (VALUES
            ('A1', DATE '2025-07-01', ['it_decision_maker'], ['economic_buyer']),
            ('A2', DATE '2025-07-01', []::VARCHAR[], ['economic_buyer', 'it_decision_maker']))
            AS t(account_key, as_of_date, engaged_personas, missing_personas);
        """
    )
    return con


def test_actions_call_rank_and_why_without_lookalikes(con) -> None:
    assert missing_inputs(con) == ["insights.account_lookalike"]
    actions = write_sales_view(con, "deal", DAY)
    assert actions == {"call now": 1, "nurture": 1, "watch": 1, "no action": 1}
    rows = con.execute(
        "SELECT account_key, call_rank, action, intent_product_line, lookalike_score, why "
        f"FROM {SALES_VIEW_TABLE} ORDER BY call_rank"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("A1", 1, "call now"),
        ("A2", 2, "nurture"),
        ("A3", 3, "watch"),
        ("A4", 4, "no action"),
    ]
    # The product line with the highest intent speaks for the account.
    assert rows[0][3] == "crm" and rows[0][4] is None
    assert rows[0][5] == (
        "fit 90 (tier A): Industry: Software; intent High for crm (CRM, Sales Tools), rising; "
        "engaged: it_decision_maker; missing: economic_buyer"
    )
    assert rows[3][5] == "fit 10 (tier C)"


def test_without_any_insights_table_the_view_shows_fit_alone(con) -> None:
    con.execute("DROP SCHEMA insights CASCADE")
    assert set(missing_inputs(con)) == {
        "insights.account_intent",
        "insights.account_buying_committee",
        "insights.account_lookalike",
    }
    # Without intent nobody is to call now: good fits are nurtured.
    assert write_sales_view(con, "deal", DAY) == {"nurture": 2, "no action": 2}
    assert con.execute(f"SELECT why FROM {SALES_VIEW_TABLE} WHERE account_key = 'A3'").fetchall() == [
        ("fit 20 (tier C)",)
    ]


def test_lookalikes_name_the_nearest_customers_and_reruns_replace(con, tmp_path: Path) -> None:
    con.execute(
        """
        CREATE TABLE insights.account_lookalike AS SELECT * FROM (VALUES
            ('A1', DATE '2025-07-01', 97, 3.2, false, ['S2', 'S1'], ['Software', '1,000+ employees']),
            ('A4', DATE '2025-07-01', 40, 0.1, false, ['S1'], []::VARCHAR[]))
            AS t(account_key, as_of_date, lookalike_score, similarity, is_seed, nearest_seeds, shared_traits)
        """
    )
    write_sales_view(con, "deal", DAY)
    write_sales_view(con, "deal", DAY)
    assert con.execute(f"SELECT count(*) FROM {SALES_VIEW_TABLE}").fetchone()[0] == 4
    why = con.execute(f"SELECT why FROM {SALES_VIEW_TABLE} WHERE account_key = 'A1'").fetchone()[0]
    assert "looks like Seed Two, Seed One (Software, 1,000+ employees)" in why
    rows, csv_path, parquet_path = export_sales_view(con, "deal", DAY, tmp_path)
    assert rows == 4 and parquet_path.exists()
    exported = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [row["Account_ID"] for row in exported] == ["A1", "A2", "A3", "A4"]
    assert exported[0]["Lookalike_Nearest_Customers__c"] == "S2; S1"
    assert exported[0]["Intent_Topics__c"] == "CRM; Sales Tools"
    # A formula-like account name stays data in the warehouse and is neutralized in the file.
    assert exported[1]["Account_Name"] == '\'=HYPERLINK("x")'
