"""Look-alike scoring against the simulator's planted ideal customer segment (Software and
Financial Services accounts above 1,000 employees): seeds from the segment, the rest of it held
out, must rank at the top."""

import datetime
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from b2b_scoring.defs.insights.assets import LOOKALIKE_KEY, build_lookalike_asset
from b2b_scoring.defs.partitions import partition_range_tags
from b2b_scoring.defs.resources import resources
from b2b_scoring.lib.insights.config import (
    LOOKALIKE_TRAITS,
    InsightsConfigError,
    LookalikeConfig,
    default_insights_path,
    load_insights,
)
from b2b_scoring.lib.insights.lookalike import (
    CATEGORICAL_TRAITS,
    LOOKALIKE_TABLE,
    ORDINAL_TRAITS,
    TRAITS_TABLE,
    LookalikeError,
    write_account_lookalike,
)
from b2b_scoring.lib.simulator import SimulationConfig, simulate_profiles
from b2b_scoring_tests.conftest import copy_year_world, use_year_world

END = datetime.date(2025, 6, 30)
AS_OF = END + datetime.timedelta(days=1)
FIRMOGRAPHICS = ("industry", "country", "employees", "revenue_per_employee")


@pytest.fixture(scope="module")
def profiles() -> tuple[duckdb.DuckDBPyConnection, list[str], int]:
    """The staging tables the look-alike reads, for a profiles-only world of 5,000 accounts (no
    behaviour: firmographics alone), and the keys of its planted segment."""
    world = simulate_profiles(SimulationConfig(n_persons=50_000, seed=5, end_date=END))
    con = duckdb.connect()
    con.register("accounts", world.tables["accounts"])
    con.register("truth_accounts", world.truth["accounts"])
    con.execute(
        """
        CREATE SCHEMA staging;
        CREATE TABLE staging.int_account_versions AS
        SELECT account_key, created_at, industry, number_of_employees, annual_revenue, country,
               regexp_replace(lower(website), '^(https?://)?(www\\.)?([^/]*).*$', '\\3') AS website_domain,
               '-infinity'::TIMESTAMP AS valid_from, NULL::TIMESTAMP AS valid_to
        FROM accounts;
        CREATE TABLE staging.stg_accounts AS
        SELECT account_key, website_domain FROM staging.int_account_versions;
        CREATE TABLE staging.int_person_versions
            (person_key VARCHAR, account_key VARCHAR, valid_from TIMESTAMP, valid_to TIMESTAMP);
        CREATE TABLE staging.int_person_activity_days
            (person_key VARCHAR, event_date DATE, engagement_events INTEGER);
        CREATE TABLE staging.int_opportunities
            (opportunity_key VARCHAR, account_key VARCHAR, won_at TIMESTAMP);
        """
    )
    segment = [
        row[0]
        for row in con.execute(
            "SELECT account_key FROM truth_accounts WHERE ideal_customer_segment ORDER BY account_key"
        ).fetchall()
    ]
    accounts = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
    return con, segment, accounts


def _recall_at_held_out(con: duckdb.DuckDBPyConnection, segment: list[str], seeds: list[str]) -> float:
    """Share of the held-out segment among the top len(held out) non-seed accounts."""
    write_account_lookalike(con, AS_OF, AS_OF, LookalikeConfig(seeds=tuple(seeds), traits=FIRMOGRAPHICS))
    held_out = set(segment) - set(seeds)
    top = con.execute(
        f"SELECT account_key FROM {LOOKALIKE_TABLE} WHERE NOT is_seed ORDER BY similarity DESC, account_key "
        "LIMIT ?",
        [len(held_out)],
    ).fetchall()
    return len(held_out & {row[0] for row in top}) / len(held_out)


def test_held_out_segment_ranks_at_the_top(profiles) -> None:
    con, segment, accounts = profiles
    assert len(segment) >= 40, len(segment)
    rng = np.random.default_rng(3)
    recall = {
        seeds: np.mean(
            [
                _recall_at_held_out(con, segment, list(rng.choice(segment, seeds, replace=False)))
                for _ in range(8)
            ]
        )
        for seeds in (3, 10)
    }
    random_share = len(segment) / accounts
    print(f"recall@held-out: {recall}, random {random_share:.3f}")
    # Picking accounts at random would find ~1.5% of the held-out segment.
    assert recall[3] >= 0.45, recall
    assert recall[10] >= 0.6, recall
    assert recall[3] >= 20 * random_share


def test_seeds_by_domain_nearest_seeds_and_traits(profiles) -> None:
    con, segment, _ = profiles
    keys = segment[:2]
    domains = [
        row[0]
        for row in con.execute(
            "SELECT 'https://www.' || website_domain || '/about' FROM staging.stg_accounts "
            "WHERE account_key = ?",
            [segment[2]],
        ).fetchall()
    ]
    summary = write_account_lookalike(
        con, AS_OF, AS_OF, LookalikeConfig(seeds=(*keys, *domains, "no-such-account.example"))
    )
    assert summary["seeds"] == 3 and summary["unresolved_seeds"] == ["no-such-account.example"]
    rows = con.execute(
        f"SELECT account_key, lookalike_score, is_seed, nearest_seeds, shared_traits FROM {LOOKALIKE_TABLE}"
    ).fetchall()
    seeds = {key for key, _, is_seed, _, _ in rows if is_seed}
    assert seeds == {*keys, segment[2]}
    assert all(0 <= score <= 100 for _, score, _, _, _ in rows)
    assert all(set(nearest) <= seeds and len(nearest) <= 3 for _, _, _, nearest, _ in rows)
    assert all(key not in nearest for key, _, _, nearest, _ in rows)
    top = max(rows, key=lambda row: row[1])
    assert top[1] == 100 and top[3] and top[4]
    # The seeds' characteristic traits: all three are large accounts in the segment's industries.
    traits = con.execute(
        f"SELECT trait, label FROM {TRAITS_TABLE} WHERE likelihood_ratio > 2 ORDER BY likelihood_ratio DESC"
    ).fetchall()
    assert ("employees", "1,000+ employees") in traits or any(
        trait == "employees" and label.startswith(("1,000", "3,162")) for trait, label in traits
    ), traits
    assert {label for trait, label in traits if trait == "industry"} <= {"Software", "Financial Services"}


def test_an_account_without_revenue_has_no_revenue_band(profiles) -> None:
    """Revenue 0 passes the raw checks; it must not break the run (log of 0) but leave the band out."""
    con, segment, _ = profiles
    con.execute(
        "CREATE TABLE revenue_backup AS SELECT account_key, annual_revenue FROM staging.int_account_versions"
    )
    zero = segment[5]
    con.execute("UPDATE staging.int_account_versions SET annual_revenue = 0 WHERE account_key = ?", [zero])
    try:
        write_account_lookalike(con, AS_OF, AS_OF, LookalikeConfig(seeds=tuple(segment[:3])))
        score = con.execute(
            f"SELECT lookalike_score FROM {LOOKALIKE_TABLE} WHERE account_key = ?", [zero]
        ).fetchall()
        assert len(score) == 1 and 0 <= score[0][0] <= 100
    finally:
        con.execute(
            "UPDATE staging.int_account_versions v SET annual_revenue = b.annual_revenue "
            "FROM revenue_backup b WHERE v.account_key = b.account_key"
        )
        con.execute("DROP TABLE revenue_backup")


def test_too_few_seeds_is_a_clear_error(profiles) -> None:
    con, segment, _ = profiles
    with pytest.raises(LookalikeError, match="at least 2 seed accounts.*nobody.example"):
        write_account_lookalike(con, AS_OF, AS_OF, LookalikeConfig(seeds=(segment[0], "nobody.example")))


def test_lookalike_config_validation(tmp_path: Path) -> None:
    assert set(LOOKALIKE_TRAITS) == set(CATEGORICAL_TRAITS) | set(ORDINAL_TRAITS)
    config = load_insights(default_insights_path()).lookalike
    assert config.seeds is None and config.traits == LOOKALIKE_TRAITS
    shipped = default_insights_path().read_text()
    seeds_file = tmp_path / "seeds.csv"
    seeds_file.write_text("domain\nacme.com\n\nACC-0000001\n")
    path = tmp_path / "insights.yaml"
    path.write_text(shipped.replace("  seeds: closed_won", "  seeds_file: seeds.csv"))
    assert load_insights(path).lookalike.seeds == ("acme.com", "ACC-0000001")
    path.write_text(shipped.replace("  traits: [industry,", "  traits: [headcount, industry,"))
    with pytest.raises(InsightsConfigError, match="lookalike.traits"):
        load_insights(path)
    path.write_text(shipped.replace("  seeds: closed_won", "  seeds: {top: 3}"))
    with pytest.raises(InsightsConfigError, match="lookalike.seeds must be closed_won or a list"):
        load_insights(path)


@pytest.fixture(scope="module")
def lookalike_world(year_world, tmp_path_factory):
    data_dir = copy_year_world(year_world, tmp_path_factory.mktemp("lookalike_world"))
    with pytest.MonkeyPatch.context() as patch:
        settings = use_year_world(patch, data_dir)
        asset = build_lookalike_asset(settings)
        result = dg.materialize(
            [asset], resources=resources().resources, tags=partition_range_tags("2025-06-20", "2025-06-29")
        )
        assert result.success
        yield settings, asset, result


def test_closed_won_lookalikes_follow_the_true_fit_and_rerun_identically(
    lookalike_world, monkeypatch
) -> None:
    settings, asset, result = lookalike_world
    use_year_world(monkeypatch, settings.data_dir)
    metadata = result.asset_materializations_for_node(asset.op.name)[0].metadata
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        winners = con.execute(
            "SELECT count(DISTINCT account_key) FROM staging.int_opportunities "
            "WHERE won_at < DATE '2025-06-30'"
        ).fetchone()[0]
        assert metadata["seeds"].value == winners >= 2
        seeds, rows, accounts = con.execute(
            "SELECT count(*) FILTER (WHERE is_seed), count(*), count(DISTINCT account_key) "
            f"FROM {LOOKALIKE_TABLE} "
            "WHERE as_of_date = DATE '2025-06-30'"
        ).fetchone()
        assert seeds == winners and rows == accounts
        # Accounts that have not won yet: the look-alike score follows the simulator's latent fit.
        (correlation,) = con.execute(
            f"""
            SELECT corr(l.lookalike_score, t.fit)
            FROM {LOOKALIKE_TABLE} AS l JOIN truth.accounts AS t USING (account_key)
            WHERE l.as_of_date = DATE '2025-06-30' AND NOT l.is_seed
            """
        ).fetchone()
        assert correlation >= 0.4, correlation
        before = con.execute(f"SELECT * FROM {LOOKALIKE_TABLE} ORDER BY ALL").fetchall()
    again = dg.materialize(
        [asset], resources=resources().resources, tags=partition_range_tags("2025-06-20", "2025-06-29")
    )
    assert (
        again.success and again.asset_materializations_for_node(asset.op.name)[0].asset_key == LOOKALIKE_KEY
    )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute(f"SELECT * FROM {LOOKALIKE_TABLE} ORDER BY ALL").fetchall() == before
