"""The ingestion engine on small hand-made landing folders: types, windows, load modes, mappings."""

import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from b2b_scoring.lib.ingestion import IngestionError, identity_mapping, ingest_table, parse_mapping
from b2b_scoring.lib.sql import relation_row_counts

DAY = datetime.datetime(2025, 3, 10)
NOW = datetime.datetime(2026, 1, 1)
IDENTITY = identity_mapping().tables


def write_csv(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def events(rows: list[tuple[str, str, datetime.datetime, str]]) -> pa.Table:
    event_id, person_key, timestamp, event_type = (list(c) for c in zip(*rows, strict=True))
    return pa.table(
        {
            "event_id": event_id,
            "person_key": person_key,
            "timestamp": pa.array(timestamp, pa.timestamp("us")),
            "event_type": event_type,
        }
    )


def ids(con: duckdb.DuckDBPyConnection, table: str = "experience_events") -> list[str]:
    key = "event_id" if table == "experience_events" else "person_key"
    return [row[0] for row in con.execute(f"SELECT {key} FROM raw.{table} ORDER BY 1").fetchall()]


def day_window(start: datetime.datetime, days: int = 1) -> tuple[datetime.datetime, datetime.datetime]:
    return start, start + datetime.timedelta(days=days)


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def test_csv_is_cast_to_contract_types_keeping_leading_zeros(tmp_path: Path, con) -> None:
    write_csv(
        tmp_path / "accounts" / "part-0.csv",
        "account_key,created_at,account_name,number_of_employees,annual_revenue,unknown_column\n"
        "00042,2024-01-02T10:00:00Z,Acme,120,1.5e6,x\n"
        "00043,2024-01-03 08:30:00+02:00,Globex,,,y\n",
    )
    report = ingest_table(con, tmp_path, IDENTITY["accounts"], now=NOW)
    assert (report.rows_read, report.rows_loaded, report.reconciles) == (2, 2, True)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'accounts'"
        ).fetchall()
    )
    assert types["created_at"] == "TIMESTAMP" and types["number_of_employees"] == "BIGINT"
    assert con.execute(
        "SELECT account_key, created_at, number_of_employees, annual_revenue FROM raw.accounts ORDER BY 1"
    ).fetchall() == [
        ("00042", datetime.datetime(2024, 1, 2, 10), 120, 1.5e6),
        ("00043", datetime.datetime(2024, 1, 3, 6, 30), None, None),
    ]


def test_csv_and_parquet_files_are_unioned_by_column_name(tmp_path: Path, con) -> None:
    write_parquet(tmp_path / "persons" / "a.parquet", pa.table({"person_key": ["p1"], "created_at": [DAY]}))
    write_csv(tmp_path / "persons" / "b.csv", "EMAIL,created_at,Person_Key\nb@x.com,2025-03-10,2\n")
    report = ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    assert report.rows_loaded == 2 and len(report.files) == 2
    assert con.execute("SELECT person_key, email FROM raw.persons ORDER BY 1").fetchall() == [
        ("2", "b@x.com"),
        ("p1", None),
    ]


def test_upsert_keeps_earlier_rows_and_updates_changed_keys_replace_starts_over(tmp_path: Path, con) -> None:
    folder = tmp_path / "persons"
    write_csv(
        folder / "2025-01-01.csv", "person_key,created_at,email\np1,2025-01-01,old@x.com\np2,2025-01-01,\n"
    )
    ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    (folder / "2025-01-01.csv").unlink()
    write_csv(
        folder / "2025-01-02.csv", "person_key,created_at,email\np1,2025-01-01,new@x.com\np3,2025-01-02,\n"
    )
    ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    assert con.execute("SELECT person_key, email FROM raw.persons ORDER BY 1").fetchall() == [
        ("p1", "new@x.com"),
        ("p2", None),
        ("p3", None),
    ]
    ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW, mode="replace")
    assert ids(con, "persons") == ["p1", "p3"]


def test_an_unreadable_file_loads_nothing_and_keeps_previous_rows(tmp_path: Path, con) -> None:
    write_csv(tmp_path / "persons" / "a.csv", "person_key,created_at\np1,2025-01-01\n")
    ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    write_csv(tmp_path / "persons" / "b.csv", "person_key,created_at\np2,2025-01-01\n")
    (tmp_path / "persons" / "c.xlsx").write_bytes(b"PK\x03\x04 not a csv")
    with pytest.raises(IngestionError, match=r"c\.xlsx: not a CSV or Parquet file"):
        ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    assert ids(con, "persons") == ["p1"]
    assert con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = 'temp'"
    ).fetchall() == [(0,)]


def test_window_load_is_half_open_and_idempotent(tmp_path: Path, con) -> None:
    next_day = DAY + datetime.timedelta(days=1)
    write_parquet(
        tmp_path / "experience_events" / "part-000.parquet",
        events(
            [
                ("e0", "p1", DAY - datetime.timedelta(microseconds=1), "web.webpagedetails.pageViews"),
                ("e1", "p1", DAY, "web.webpagedetails.pageViews"),
                ("e2", "p2", DAY + datetime.timedelta(hours=23, minutes=59), "web.formFilledOut"),
                ("e3", "p2", next_day, "web.formFilledOut"),
            ]
        ),
    )
    first = ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW, window=day_window(DAY))
    assert (first.rows_read, first.rows_loaded) == (2, 2)
    loaded_once = con.execute("SELECT * FROM raw.experience_events ORDER BY ALL").fetchall()
    ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW, window=day_window(DAY))
    assert con.execute("SELECT * FROM raw.experience_events ORDER BY ALL").fetchall() == loaded_once
    ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW, window=day_window(next_day))
    assert ids(con) == ["e1", "e2", "e3"]


def test_window_load_leaves_other_windows_alone(tmp_path: Path, con) -> None:
    folder = tmp_path / "experience_events"
    write_parquet(
        folder / "p.parquet",
        events([("e1", "p1", DAY, "t"), ("e2", "p1", DAY + datetime.timedelta(days=1), "t")]),
    )
    ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW, window=day_window(DAY, days=2))
    write_parquet(folder / "p.parquet", events([("e1b", "p1", DAY, "t")]))
    report = ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW, window=day_window(DAY))
    assert report.rows_loaded == 1
    assert ids(con) == ["e1b", "e2"]


def test_zoned_timestamps_and_aware_windows_are_utc(tmp_path: Path, con) -> None:
    plus_one = datetime.timezone(datetime.timedelta(hours=1))
    zoned = pa.array(
        [datetime.datetime(2025, 3, 10, 0, 30, tzinfo=plus_one)], pa.timestamp("us", tz="+01:00")
    )
    write_parquet(
        tmp_path / "experience_events" / "p.parquet",
        pa.table({"event_id": ["e1"], "person_key": ["p"], "timestamp": zoned, "event_type": ["t"]}),
    )
    # [03-10 01:00+01:00, 03-11 01:00+01:00) is the UTC day 2025-03-10; the event is 03-09 23:30 UTC.
    aware = (
        datetime.datetime(2025, 3, 10, 1, tzinfo=plus_one),
        datetime.datetime(2025, 3, 11, 1, tzinfo=plus_one),
    )
    assert ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW, window=aware).rows_loaded == 0
    previous_day = day_window(DAY - datetime.timedelta(days=1))
    assert (
        ingest_table(con, tmp_path, IDENTITY["experience_events"], now=NOW, window=previous_day).rows_loaded
        == 1
    )
    assert con.execute("SELECT timestamp FROM raw.experience_events").fetchall() == [
        (datetime.datetime(2025, 3, 9, 23, 30),)
    ]


def test_missing_folder_and_missing_required_column_are_named(tmp_path: Path, con) -> None:
    with pytest.raises(IngestionError, match="landing folder of table 'persons' not found"):
        ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    write_csv(tmp_path / "persons" / "p.csv", "person_key,email\np1,a@b.c\n")
    with pytest.raises(
        IngestionError, match=r"p\.csv: missing required column 'created_at' of table 'persons'"
    ):
        ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)


def test_mapping_renames_translates_templates_scales_and_skips(tmp_path: Path, con) -> None:
    mapping = parse_mapping(
        {
            "tables": {
                "opportunity_events": {
                    "folder": "pipeline",
                    "values": {"new_value": {"Won": "Closed Won", "Lost": "Closed Lost"}},
                    "missing_values": ["", "n/a"],
                    "timestamp_formats": ["%d.%m.%Y"],
                    "rows": [
                        {
                            "name": "closed",
                            "skip_when_missing": ["closed on"],
                            "columns": {
                                "event_id": {"template": "{Deal}-closed"},
                                "opportunity_key": "Deal",
                                "account_key": "Company",
                                "timestamp": "closed on",
                                "attribute_name": {"value": "Stage"},
                                "new_value": "Result",
                                "amount": {"column": "Value k", "multiply": 1000},
                            },
                        }
                    ],
                }
            }
        }
    )
    write_csv(
        tmp_path / "pipeline" / "deals.csv",
        "Deal,Company,closed on,Result,Value k\n"
        "D1,Acme,03.02.2025,Won,1.5\nD2,Acme,n/a,,\nD3,Globex,04.02.2025,Lost,2\n",
    )
    report = ingest_table(con, tmp_path, mapping.tables["opportunity_events"], now=NOW)
    assert (report.rows_read, report.rows_loaded, report.rows_skipped, report.reconciles) == (3, 2, 1, True)
    assert con.execute(
        "SELECT event_id, account_key, timestamp, attribute_name, new_value, amount "
        "FROM raw.opportunity_events ORDER BY 1"
    ).fetchall() == [
        ("D1-closed", "Acme", datetime.datetime(2025, 2, 3), "Stage", "Closed Won", 1500.0),
        ("D3-closed", "Globex", datetime.datetime(2025, 2, 4), "Stage", "Closed Lost", 2000.0),
    ]


def test_relation_row_counts_lists_the_given_tables_first(tmp_path: Path, con) -> None:
    write_csv(tmp_path / "accounts" / "a.csv", "account_key,created_at\na1,2025-01-01\n")
    write_csv(tmp_path / "persons" / "p.csv", "person_key,created_at\np1,2025-01-01\np2,2025-01-01\n")
    ingest_table(con, tmp_path, IDENTITY["accounts"], now=NOW)
    ingest_table(con, tmp_path, IDENTITY["persons"], now=NOW)
    con.execute("CREATE TABLE raw.aaa_notes (x INTEGER)")
    counts = relation_row_counts(con, "raw", first=["persons", "accounts"])
    assert list(counts.items()) == [("persons", 2), ("accounts", 1), ("aaa_notes", 0)]


def test_counts_must_be_whole_numbers_and_infinity_is_no_time(tmp_path: Path, con) -> None:
    write_csv(
        tmp_path / "accounts" / "a.csv",
        "account_key,created_at,number_of_employees\na1,2025-01-01,12\na2,2025-01-01,12.5\na3,infinity,3\n",
    )
    write_parquet(
        tmp_path / "accounts" / "b.parquet",
        pa.table({"account_key": ["a4", "a5"], "created_at": [DAY, DAY], "number_of_employees": [7.0, 7.5]}),
    )
    report = ingest_table(con, tmp_path, IDENTITY["accounts"], now=NOW)
    assert report.quarantined_by_reason == {"unparseable:created_at": 1, "unparseable:number_of_employees": 2}
    assert con.execute("SELECT account_key, number_of_employees FROM raw.accounts ORDER BY 1").fetchall() == [
        ("a1", 12),
        ("a4", 7),
    ]
    originals = con.execute(
        "SELECT original->>'number_of_employees' FROM quarantine.accounts ORDER BY 1"
    ).fetchall()
    assert originals == [("12.5",), ("3",), ("7.5",)]
