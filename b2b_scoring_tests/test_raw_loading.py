import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from b2b_scoring.lib.raw_loading import (
    LandingError,
    TimeWindow,
    find_landing_files,
    load_snapshot_table,
    load_time_window,
    relation_row_counts,
)

DAY = datetime.datetime(2025, 3, 10)


def write_csv(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def events_table(rows: list[tuple[str, str, datetime.datetime, str]]) -> pa.Table:
    event_id, person_key, timestamp, event_type = (list(c) for c in zip(*rows, strict=True))
    return pa.table(
        {
            "event_id": event_id,
            "person_key": person_key,
            "timestamp": pa.array(timestamp, pa.timestamp("us")),
            "event_type": event_type,
            "web_url": [None] * len(rows),
        }
    )


def window(day: datetime.datetime, days: int = 1) -> TimeWindow:
    return TimeWindow(day, day + datetime.timedelta(days=days))


def table_rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM raw.{table} ORDER BY ALL").fetchall()


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def test_csv_snapshot_is_cast_to_contract_types(tmp_path: Path, con) -> None:
    write_csv(
        tmp_path / "accounts" / "part-0.csv",
        "account_key,created_at,account_name,number_of_employees,annual_revenue,unknown_column\n"
        "00042,2024-01-02T10:00:00Z,Acme,120,1.5e6,x\n"
        "00043,2024-01-03 08:30:00+02:00,Globex,,,y\n",
    )
    result = load_snapshot_table(con, tmp_path, "accounts")
    assert (result.rows_loaded, result.rows_in_table) == (2, 2)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'accounts'"
        ).fetchall()
    )
    assert types == {
        "account_key": "VARCHAR",
        "created_at": "TIMESTAMP",
        "account_name": "VARCHAR",
        "website": "VARCHAR",
        "industry": "VARCHAR",
        "number_of_employees": "BIGINT",
        "annual_revenue": "DOUBLE",
        "country": "VARCHAR",
    }
    assert con.execute(
        "SELECT account_key, created_at, number_of_employees, annual_revenue, website "
        "FROM raw.accounts ORDER BY 1"
    ).fetchall() == [
        ("00042", datetime.datetime(2024, 1, 2, 10), 120, 1.5e6, None),
        ("00043", datetime.datetime(2024, 1, 3, 6, 30), None, None, None),
    ]


def test_parquet_files_are_unioned_by_name(tmp_path: Path, con) -> None:
    write_parquet(tmp_path / "persons" / "a.parquet", pa.table({"person_key": ["p1"], "created_at": [DAY]}))
    write_parquet(
        tmp_path / "persons" / "b.parquet",
        pa.table({"email": ["b@x.com"], "created_at": [DAY], "person_key": [2]}),
    )
    result = load_snapshot_table(con, tmp_path, "persons")
    assert result.rows_in_table == 2
    assert con.execute("SELECT person_key, email FROM raw.persons ORDER BY 1").fetchall() == [
        ("2", "b@x.com"),
        ("p1", None),
    ]


def test_snapshot_reload_replaces_rows_and_failed_load_keeps_previous(tmp_path: Path, con) -> None:
    folder = tmp_path / "sales_dispositions"
    write_csv(
        folder / "d.csv", "person_key,disposition,timestamp\np1,accepted,2025-01-01\np2,rejected,2025-01-02\n"
    )
    load_snapshot_table(con, tmp_path, "sales_dispositions")
    write_csv(folder / "d.csv", "person_key,disposition,timestamp\np3,nurture,2025-01-05\n")
    assert load_snapshot_table(con, tmp_path, "sales_dispositions").rows_in_table == 1
    write_csv(folder / "d.csv", "person_key,disposition,timestamp\np4,accepted,not a time\n")
    with pytest.raises(duckdb.ConversionException):
        load_snapshot_table(con, tmp_path, "sales_dispositions")
    assert table_rows(con, "sales_dispositions") == [("p3", "nurture", datetime.datetime(2025, 1, 5), None)]


def test_window_load_is_half_open_and_idempotent(tmp_path: Path, con) -> None:
    next_day = DAY + datetime.timedelta(days=1)
    write_parquet(
        tmp_path / "experience_events" / "part-000.parquet",
        events_table(
            [
                ("e0", "p1", DAY - datetime.timedelta(microseconds=1), "web.webpagedetails.pageViews"),
                ("e1", "p1", DAY, "web.webpagedetails.pageViews"),
                ("e2", "p2", DAY + datetime.timedelta(hours=23, minutes=59), "web.formFilledOut"),
                ("e3", "p2", next_day, "web.formFilledOut"),
            ]
        ),
    )
    first = load_time_window(con, tmp_path, "experience_events", window(DAY))
    assert (first.rows_loaded, first.rows_in_table) == (2, 2)
    assert [r[0] for r in table_rows(con, "experience_events")] == ["e1", "e2"]
    loaded_once = table_rows(con, "experience_events")
    again = load_time_window(con, tmp_path, "experience_events", window(DAY))
    assert (again.rows_loaded, again.rows_in_table) == (2, 2)
    assert table_rows(con, "experience_events") == loaded_once

    load_time_window(con, tmp_path, "experience_events", window(next_day))
    assert [r[0] for r in table_rows(con, "experience_events")] == ["e1", "e2", "e3"]


def test_window_load_leaves_other_windows_alone(tmp_path: Path, con) -> None:
    folder = tmp_path / "experience_events"
    write_parquet(
        folder / "part-000.parquet",
        events_table([("e1", "p1", DAY, "t"), ("e2", "p1", DAY + datetime.timedelta(days=1), "t")]),
    )
    load_time_window(con, tmp_path, "experience_events", window(DAY, days=2))
    # The source now has a corrected first day and nothing for the second; reload only the first.
    write_parquet(folder / "part-000.parquet", events_table([("e1b", "p1", DAY, "t")]))
    result = load_time_window(con, tmp_path, "experience_events", window(DAY))
    assert (result.rows_loaded, result.rows_in_table) == (1, 2)
    assert [r[0] for r in table_rows(con, "experience_events")] == ["e1b", "e2"]


def test_aware_window_bounds_are_converted_to_utc() -> None:
    paris = datetime.timezone(datetime.timedelta(hours=1))
    converted = TimeWindow.from_datetimes(
        datetime.datetime(2025, 3, 10, 1, tzinfo=paris), datetime.datetime(2025, 3, 11, 1, tzinfo=paris)
    )
    assert converted == TimeWindow(datetime.datetime(2025, 3, 10), datetime.datetime(2025, 3, 11))
    with pytest.raises(ValueError, match="empty time window"):
        TimeWindow(DAY, DAY)


def test_missing_folder_names_the_folder(tmp_path: Path, con) -> None:
    with pytest.raises(
        LandingError, match=f"Landing folder for table 'persons' not found: {tmp_path / 'persons'}"
    ):
        load_snapshot_table(con, tmp_path, "persons")


def test_missing_required_column_names_folder_and_column(tmp_path: Path, con) -> None:
    write_csv(tmp_path / "persons" / "p.csv", "person_key,email\np1,a@b.c\n")
    with pytest.raises(LandingError, match=r"persons lack required column\(s\) created_at"):
        load_snapshot_table(con, tmp_path, "persons")


def test_empty_or_mixed_folders_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "persons").mkdir()
    with pytest.raises(LandingError, match="No \\*.parquet or \\*.csv files"):
        find_landing_files(tmp_path, "persons")
    write_csv(tmp_path / "persons" / "a.csv", "person_key,created_at\n")
    write_parquet(tmp_path / "persons" / "b.parquet", pa.table({"person_key": ["p"]}))
    with pytest.raises(LandingError, match="mixes Parquet and CSV"):
        find_landing_files(tmp_path, "persons")


def test_unknown_table_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'leads' is not a contract table"):
        find_landing_files(tmp_path, "leads")


def test_relation_row_counts_lists_contract_tables_first(tmp_path: Path, con) -> None:
    write_csv(tmp_path / "accounts" / "a.csv", "account_key,created_at\na1,2025-01-01\n")
    write_csv(tmp_path / "persons" / "p.csv", "person_key,created_at\np1,2025-01-01\np2,2025-01-01\n")
    load_snapshot_table(con, tmp_path, "accounts")
    load_snapshot_table(con, tmp_path, "persons")
    con.execute("CREATE TABLE raw.aaa_notes (x INTEGER)")
    assert list(relation_row_counts(con).items()) == [("persons", 2), ("accounts", 1), ("aaa_notes", 0)]


def test_zoned_parquet_timestamps_are_windowed_in_utc(tmp_path: Path, con) -> None:
    paris = datetime.timezone(datetime.timedelta(hours=1))
    zoned = pa.array([datetime.datetime(2025, 3, 10, 0, 30, tzinfo=paris)], pa.timestamp("us", tz="+01:00"))
    write_parquet(
        tmp_path / "experience_events" / "p.parquet",
        pa.table({"event_id": ["e1"], "person_key": ["p"], "timestamp": zoned, "event_type": ["t"]}),
    )
    assert load_time_window(con, tmp_path, "experience_events", window(DAY)).rows_loaded == 0
    loaded = load_time_window(con, tmp_path, "experience_events", window(DAY - datetime.timedelta(days=1)))
    assert loaded.rows_loaded == 1
    assert table_rows(con, "experience_events")[0][2] == datetime.datetime(2025, 3, 9, 23, 30)
