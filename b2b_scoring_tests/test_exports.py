"""Exports are safe to open in a spreadsheet; `b2b-scoring ingest` reports and exits as documented."""

import csv
import json
from pathlib import Path

import duckdb
import pytest

from b2b_scoring.cli import main
from b2b_scoring.lib.exports import export_csv


def test_formula_like_text_is_neutralized_and_everything_else_kept(tmp_path: Path) -> None:
    values = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tTab", "plain", "a=b", None]
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (text VARCHAR, amount INTEGER)")
        con.executemany("INSERT INTO t VALUES (?, ?)", [(v, -5) for v in values])
        assert export_csv(con, "t", tmp_path / "out.csv") == len(values)
        assert con.execute("SELECT count(*) FROM t WHERE text LIKE '=%'").fetchall() == [(1,)]
    with (tmp_path / "out.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["text"] for r in rows] == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tTab",
        "plain",
        "a=b",
        "",
    ]
    assert {r["amount"] for r in rows} == {"-5"}  # numbers are numbers, not text


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_ingest_command_reports_quarantines_and_exports(
    tmp_path: Path, isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = tmp_path / "landing"
    write(
        landing / "persons" / "p.csv",
        "person_key,created_at,email\np1,2025-01-01,=cmd()\n,2025-01-01,x@y.z\n",
    )
    assert main(["ingest", "--landing", str(landing), "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["warehouse"] is None
    assert not isolated_env.exists(), "a dry run must not create the warehouse"
    [persons] = dry["tables"]
    assert (persons["rows_read"], persons["rows_loaded"], persons["rows_quarantined"]) == (2, 1, 1)

    assert main(["ingest", "--landing", str(landing), "--quarantine-out", str(tmp_path / "q")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tables"][0]["quarantined_by_reason"] == {"missing_required:person_key": 1}
    with duckdb.connect(str(isolated_env / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT person_key, email FROM raw.persons").fetchall() == [("p1", "=cmd()")]
    exported = (tmp_path / "q" / "persons.csv").read_text()
    assert "missing_required:person_key" in exported and "x@y.z" in exported


def test_ingest_command_fails_on_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = tmp_path / "landing"
    write(landing / "persons" / "p.csv", "person_key,created_at\np1,2025-01-01\n")
    (landing / "accounts").mkdir()
    (landing / "accounts" / "a.csv").write_bytes(b"")
    assert main(["ingest", "--landing", str(landing), "--dry-run"]) == 1
    tables = {t["table"]: t for t in json.loads(capsys.readouterr().out)["tables"]}
    assert tables["persons"]["rows_loaded"] == 1
    [error] = tables["accounts"]["errors"]
    assert error["file"].endswith("accounts/a.csv") and error["problem"] == "empty file (0 bytes)"
