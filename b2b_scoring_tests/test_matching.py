"""Lead-to-account matching: domains, names, the matcher against the simulator's truth and the
Fortune 1000 test set, incremental runs in the warehouse, the `match` command and the asset."""

import csv
import datetime
import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import tldextract

from b2b_scoring.cli import main
from b2b_scoring.lib.matching import MatchConfig, MatchingError, match_persons
from b2b_scoring.lib.matching.domains import create_registrable_domains, email_host_sql, host_sql
from b2b_scoring.lib.matching.evaluation import evaluate_matches
from b2b_scoring.lib.matching.fortune_testset import build_fortune_testset
from b2b_scoring.lib.matching.matcher import lowest_threshold_for_precision
from b2b_scoring.lib.matching.names import create_name_tokens
from b2b_scoring.lib.matching.store import DECISIONS_TABLE, RELATIONS_TABLE, run_matching
from b2b_scoring.lib.simulator import SimulationConfig, simulate_profiles
from b2b_scoring.lib.sql import count_rows

FORTUNE_CSV = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "fortune_1000_2021" / "Fortune_1000.csv"
)
MATCH_DATE = datetime.date(2025, 6, 30)
CONFIG = MatchConfig()


def _profiles(persons: int, seed: int = 5):
    return simulate_profiles(
        SimulationConfig(n_persons=persons, seed=seed, end_date=MATCH_DATE, history_days=60)
    )


@pytest.fixture(scope="module")
def simulated_match() -> tuple[duckdb.DuckDBPyConnection, object]:
    world = _profiles(20_000)
    con = duckdb.connect()
    for name, table in (("persons", world.tables["persons"]), ("accounts", world.tables["accounts"])):
        con.register(name, table)
    con.register("truth", world.truth["persons"])
    run = match_persons(con, "SELECT * FROM persons", "SELECT * FROM accounts", CONFIG)
    return con, run


def test_registrable_domains_agree_with_tldextract_bundled_list() -> None:
    urls = [
        "https://www.Acme.com/about",
        "eu.mail.acme.co.uk",
        "http://user@shop.acme.com.au:8080/x?y=1",
        "www.ck",  # exception rule !www.ck
        "foo.bar.ck",  # wildcard rule *.ck
        "city.kawasaki.jp",
        "https://investors.bestbuy.com/investor-relations/overview/default.aspx",
        "x.github.io",  # a private suffix: the ICANN section only
        "ACME.DE.",
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE urls AS SELECT unnest(?) AS url", [urls])
    create_registrable_domains(con, f"SELECT {host_sql('url')} AS host FROM urls", "domains")
    found = dict(
        con.execute(
            f"SELECT url, d.domain FROM urls LEFT JOIN domains AS d ON d.host = {host_sql('url')}"
        ).fetchall()
    )
    extract = tldextract.TLDExtract(suffix_list_urls=(), include_psl_private_domains=False)
    assert found == {url: extract(url).top_domain_under_public_suffix.lower() for url in urls}
    assert found["foo.bar.ck"] == "foo.bar.ck" and found["www.ck"] == "www.ck"
    (email_host,) = con.execute(
        f"SELECT {email_host_sql(chr(39) + 'Jane <Jane.Doe@Mail.Acme.com>' + chr(39))}"
    ).fetchone()
    assert email_host == "mail.acme.com"


def test_company_names_normalize_case_punctuation_legal_forms_and_abbreviations() -> None:
    names = {
        "The Travelers Cos.": "travelers companies",
        "Travelers Companies, Inc.": "travelers companies",
        "Müller GmbH & Co. KG": "muller",
        "zorbatec Sol. pty ltd": "zorbatec solutions",
        "Align Tech Inc": "align technology",
        "McDonald&#8217;s": "mcdonalds",
        "Advanced Micro Devices (AMD)": "advanced micro devices",
        "Procter & Gamble": "procter gamble",
        "GmbH": "gmbh",  # only a legal form: kept
    }
    con = duckdb.connect()
    con.execute("CREATE TABLE names AS SELECT unnest(?) AS name", [list(names)])
    create_name_tokens(con, "SELECT name FROM names", "normalized_names")
    assert dict(con.execute("SELECT name, normalized FROM normalized_names").fetchall()) == names


def test_matcher_meets_precision_and_recall_on_simulated_unlinked_persons(simulated_match) -> None:
    con, run = simulated_match
    quality = evaluate_matches(
        con, "SELECT person_key, true_account_key FROM truth WHERE link_class = 'known_unlinked'"
    )
    assert quality["precision"] >= 0.99
    assert quality["recall"] >= 0.95
    # Every known unlinked person got a decision; linked and anonymous persons none.
    assert quality["persons"] == run.persons_by_class["known"] == sum(run.decisions.values())
    classes = dict(
        con.execute(
            "SELECT link_class, count(*) FROM match_decisions JOIN truth USING (person_key) GROUP BY ALL"
        ).fetchall()
    )
    assert set(classes) == {"known_unlinked"}
    assert run.model.validation["precision"] >= 0.99
    assert run.model.threshold >= 0.5
    assert run.model.coefficients["email_domain_match"] > 0 and run.model.coefficients["name_exact"] > 0


def test_matches_carry_evidence_and_free_mail_never_counts(simulated_match) -> None:
    con, _ = simulated_match
    rows = con.execute(
        """
        SELECT lower(p.email) LIKE '%@gmail.com' AS gmail, d.evidence
        FROM match_decisions AS d JOIN persons AS p USING (person_key)
        WHERE d.status = 'matched'
        """
    ).fetchall()
    assert all(evidence for _, evidence in rows)
    assert not any("email_domain" in evidence for gmail, evidence in rows if gmail)
    assert any("email_domain" in evidence for gmail, evidence in rows if not gmail)


def test_equal_best_candidates_are_ambiguous_not_guessed() -> None:
    world = _profiles(3_000)
    twins = pa.table(
        {
            "account_key": ["TWIN-1", "TWIN-2"],
            "created_at": pa.array([datetime.datetime(2024, 1, 1)] * 2),
            "account_name": ["Quibblequark Labs Inc.", "Quibblequark Labs LLC"],
            "website": [None, None],
            "industry": [None, None],
            "number_of_employees": pa.array([None, None], pa.int64()),
            "annual_revenue": pa.array([None, None], pa.float64()),
            "country": ["Germany", "Germany"],
        }
    )
    person = {name: [None] for name in world.tables["persons"].column_names}
    person |= {"person_key": ["P-TWIN"], "created_at": [datetime.datetime(2024, 1, 1)]}
    person |= {"company_name": ["quibblequark labs"], "country": ["Germany"]}
    con = duckdb.connect()
    con.register(
        "accounts", pa.concat_tables([world.tables["accounts"], twins.cast(world.tables["accounts"].schema)])
    )
    con.register(
        "persons",
        pa.concat_tables([world.tables["persons"], pa.table(person).cast(world.tables["persons"].schema)]),
    )
    match_persons(con, "SELECT * FROM persons", "SELECT * FROM accounts", CONFIG)
    status, account, best = con.execute(
        "SELECT status, account_key, best_account_key FROM match_decisions WHERE person_key = 'P-TWIN'"
    ).fetchone()
    assert (status, account) == ("ambiguous", None)
    assert best in ("TWIN-1", "TWIN-2")


def test_matcher_needs_linked_persons_to_learn_from() -> None:
    world = _profiles(2_000)
    unlinked = world.tables["persons"].set_column(
        2, "account_key", pa.nulls(world.tables["persons"].num_rows, pa.string())
    )
    con = duckdb.connect()
    con.register("persons", unlinked)
    con.register("accounts", world.tables["accounts"])
    with pytest.raises(MatchingError, match="already linked to an account"):
        match_persons(con, "SELECT * FROM persons", "SELECT * FROM accounts", CONFIG)


def test_threshold_is_the_lowest_confidence_keeping_precision() -> None:
    confidence = np.array([0.99, 0.95, 0.9, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, True, False, False])
    # Precision from the top: 1, 1, (3/4 at 0.9), 4/5 at 0.8, 4/6, 4/7.
    assert lowest_threshold_for_precision(confidence, correct, 0.99) == 0.95
    assert lowest_threshold_for_precision(confidence, correct, 0.75) == 0.8
    assert lowest_threshold_for_precision(np.array([0.4]), np.array([False]), 0.9) > 0.4


@pytest.mark.skipif(not FORTUNE_CSV.is_file(), reason=f"{FORTUNE_CSV} is absent (../shared/data not here)")
def test_fortune_1000_test_set_with_decoys() -> None:
    test_set = build_fortune_testset(FORTUNE_CSV, n_persons=12_000, seed=1)
    con = duckdb.connect()
    con.register("persons", test_set.persons)
    con.register("accounts", test_set.accounts)
    con.register("truth", test_set.truth)
    match_persons(con, "SELECT * FROM persons", "SELECT * FROM accounts", CONFIG)
    quality = evaluate_matches(con, "SELECT person_key, true_account_key FROM truth WHERE kind <> 'linked'")
    assert quality["precision"] >= 0.99
    assert quality["recall"] >= 0.95
    decoys_matched = count_rows(
        con,
        "SELECT count(*) FROM match_decisions JOIN truth USING (person_key) "
        "WHERE kind = 'decoy' AND account_key IS NOT NULL",
    )
    decoys = count_rows(con, "SELECT count(*) FROM truth WHERE kind = 'decoy'")
    assert decoys_matched <= 0.01 * decoys


def _warehouse_with_raw(path: Path, world) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA raw")
    for name in ("persons", "accounts"):
        con.register(f"_{name}", world.tables[name])
        con.execute(f"CREATE TABLE raw.{name} AS SELECT * FROM _{name}")
    return con


def test_runs_are_incremental_and_follow_the_crm(tmp_path: Path) -> None:
    world = _profiles(4_000)
    con = _warehouse_with_raw(tmp_path / "warehouse.duckdb", world)
    first = run_matching(con, MATCH_DATE, CONFIG)
    assert first.full_rematch and first.persons_rematched == first.persons_by_class["known"]
    assert (
        first.relations_total
        == first.decisions["matched"]
        == count_rows(con, f"SELECT count(*) FROM {RELATIONS_TABLE}")
    )
    assert sum(bin_["persons"] for bin_ in first.confidence_histogram) == first.relations_total
    relations = con.execute(f"SELECT * EXCLUDE (match_date) FROM {RELATIONS_TABLE} ORDER BY ALL").fetchall()

    again = run_matching(con, MATCH_DATE + datetime.timedelta(days=1), CONFIG)
    assert not again.full_rematch and again.persons_rematched == 0
    assert (
        con.execute(f"SELECT * EXCLUDE (match_date) FROM {RELATIONS_TABLE} ORDER BY ALL").fetchall()
        == relations
    )

    # The CRM links one matched person, another changes e-mail and company.
    linked, changed = (
        row[0]
        for row in con.execute(
            f"SELECT person_key FROM {RELATIONS_TABLE} ORDER BY person_key LIMIT 2"
        ).fetchall()
    )
    con.execute("UPDATE raw.persons SET account_key = 'ACC-0000001' WHERE person_key = ?", [linked])
    con.execute(
        "UPDATE raw.persons SET email = 'someone@gmail.com', company_name = NULL, company_website = NULL "
        "WHERE person_key = ?",
        [changed],
    )
    third = run_matching(con, MATCH_DATE + datetime.timedelta(days=2), CONFIG)
    assert third.persons_rematched == 0  # the changed person is no longer known: nothing to match
    assert third.relations_removed == 2
    assert (
        count_rows(
            con, f"SELECT count(*) FROM {RELATIONS_TABLE} WHERE person_key IN (?, ?)", [linked, changed]
        )
        == 0
    )
    assert (
        count_rows(
            con, f"SELECT count(*) FROM {DECISIONS_TABLE} WHERE person_key IN (?, ?)", [linked, changed]
        )
        == 0
    )

    con.execute(
        "UPDATE raw.accounts SET account_name = account_name || ' Holdings' WHERE account_key = 'ACC-0000002'"
    )
    fourth = run_matching(con, MATCH_DATE + datetime.timedelta(days=3), CONFIG)
    assert fourth.full_rematch and fourth.persons_rematched == fourth.persons_by_class["known"]
    assert count_rows(con, "SELECT count(*) FROM matching.matcher_runs") == 4


def test_match_command_on_csv_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _profiles(3_000)
    con = duckdb.connect()
    for name in ("persons", "accounts"):
        con.register(name, world.tables[name])
        con.execute(f"COPY {name} TO '{tmp_path / name}.csv' (HEADER)")
    con.register("truth", world.truth["persons"])
    output = tmp_path / "matches.csv"
    code = main(
        [
            "match",
            "--persons",
            str(tmp_path / "persons.csv"),
            "--accounts",
            str(tmp_path / "accounts.csv"),
            "--output",
            str(output),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    with output.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["person_key", "account_key", "confidence", "status", "evidence"]
    assert len(rows) == summary["rows"] == summary["persons_by_class"]["known"]
    truth = dict(con.execute("SELECT person_key, true_account_key FROM truth").fetchall())
    matched = [row for row in rows if row["account_key"]]
    assert all(row["status"] == "matched" for row in matched)
    assert sum(truth[row["person_key"]] == row["account_key"] for row in matched) >= 0.99 * len(matched)
    assert len(matched) >= 0.95 * len(rows)

    # The environment's matching settings apply as in the pipeline; --threshold wins over them.
    files = ["--persons", str(tmp_path / "persons.csv"), "--accounts", str(tmp_path / "accounts.csv")]
    monkeypatch.setenv("B2B_SCORING_MATCH_THRESHOLD", "0.97")
    assert main(["match", *files, "--output", str(tmp_path / "strict.csv")]) == 0
    strict = json.loads(capsys.readouterr().out)
    assert strict["threshold"] == 0.97 and strict["threshold"] != summary["threshold"]
    assert main(["match", *files, "--output", str(tmp_path / "given.csv"), "--threshold", "0.6"]) == 0
    assert json.loads(capsys.readouterr().out)["threshold"] == 0.6

    (tmp_path / "bad.csv").write_text("id,email\n1,a@b.com\n")
    with pytest.raises(SystemExit) as error:
        main(
            [
                "match",
                "--persons",
                str(tmp_path / "bad.csv"),
                "--accounts",
                str(tmp_path / "accounts.csv"),
                "--output",
                str(output),
            ]
        )
    assert error.value.code == 2
    assert "required column 'person_key' is missing" in capsys.readouterr().err


def test_matches_flow_into_staging_persons(tiny_pipeline) -> None:
    settings, result = tiny_pipeline
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        matched = count_rows(con, f"SELECT count(*) FROM {RELATIONS_TABLE}")
        assert matched > 0
        by_source = dict(
            con.execute(
                "SELECT account_link_source, count(*) FROM staging.stg_persons GROUP BY ALL"
            ).fetchall()
        )
        assert by_source["lead_to_account_matching"] == matched
        truth_right = count_rows(
            con,
            f"SELECT count(*) FROM {RELATIONS_TABLE} AS r JOIN truth.persons AS t USING (person_key) "
            "WHERE r.account_key = t.true_account_key",
        )
        assert truth_right >= 0.99 * matched
    materialization = result.asset_materializations_for_node("matching__account_person_relations")[0]
    metadata = materialization.metadata
    assert metadata["persons_known"].value > 0 and metadata["validation_precision"].value >= 0.99
    checks = [
        c for c in result.get_asset_check_evaluations() if c.check_name == "matcher_validation_precision"
    ]
    assert checks and checks[0].passed
