"""Daily scores: exact fast TreeSHAP, score / percentile / tier rules, influential factors and
change drivers, idempotent storage and the CRM export of changes."""

import copy
import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from b2b_scoring.lib.goals import ScoringPolicy
from b2b_scoring.lib.ml.backtest import BacktestReport, CandidateResult
from b2b_scoring.lib.ml.metrics import evaluate
from b2b_scoring.lib.ml.models import FeatureEncoder
from b2b_scoring.lib.ml.rollup_backtest import adopt_best_source
from b2b_scoring.lib.ml.training import fit_model
from b2b_scoring.lib.scoring.reasons import HIGH_LOG_ODDS, MEDIUM_LOG_ODDS, phrase
from b2b_scoring.lib.scoring.rollups import rollup_persons, rollups_for
from b2b_scoring.lib.scoring.scores import (
    exploration_slice,
    percentiles,
    relative_to_population,
    score_from_probability,
    score_records,
    stable_unit_interval,
    tiers,
)
from b2b_scoring.lib.scoring.store import export_changes, write_scores


def leads(rows: int, seed: int) -> pa.Table:
    """Leads whose conversion depends on pricing visits in the last 7 days, seniority and a
    sometimes-missing company size."""
    rng = np.random.default_rng(seed)
    pricing = rng.poisson(0.3, rows).astype(float)
    seniority = rng.choice(["VP", "Director", "Manager", "Individual"], rows, p=[0.1, 0.2, 0.3, 0.4])
    employees = np.where(rng.random(rows) < 0.2, np.nan, rng.lognormal(5, 1.5, rows))
    logit = -4 + 1.2 * pricing + 1.0 * (seniority == "VP") + 0.3 * np.nan_to_num(np.log10(employees))
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pa.table(
        {
            "person_key": [f"P-{i:05d}" for i in range(rows)],
            "pricing_visits_7d": pricing,
            "pricing_visits_90d": pricing + rng.poisson(0.5, rows),
            "page_views_30d": rng.poisson(2, rows).astype(float),
            "job_seniority": seniority,
            "number_of_employees": employees,
            "label": label,
        }
    )


FEATURES = [
    "pricing_visits_7d",
    "pricing_visits_90d",
    "page_views_30d",
    "job_seniority",
    "number_of_employees",
]


@pytest.fixture(scope="module")
def trained():
    table = leads(20_000, seed=1)
    encoder = FeatureEncoder.fit(table, FEATURES)
    label = table["label"].to_numpy()
    keys = table["person_key"].to_numpy(zero_copy_only=False)
    return fit_model("lightgbm", encoder.matrix(table), label, keys, encoder)


def test_fast_treeshap_equals_lightgbm_pred_contrib(trained):
    matrix = trained.encoder.matrix(leads(3_000, seed=2))
    assert np.isnan(matrix).any() and (matrix == 0).any()
    for model in trained.model.members:
        expected = model.booster.predict(
            matrix, pred_contrib=True, num_iteration=model.booster.best_iteration
        )
        fast = model.contributions(matrix)
        np.testing.assert_allclose(fast, expected, rtol=0, atol=1e-10)
        np.testing.assert_allclose(fast.sum(axis=1), model.raw_score(matrix), atol=1e-10)
    np.testing.assert_allclose(
        trained.model.contributions(matrix).sum(axis=1), trained.model.raw_score(matrix), atol=1e-10
    )


@pytest.mark.parametrize("algorithm", ["random_forest", "logistic_regression"])
def test_contributions_sum_to_the_raw_score(algorithm):
    table = leads(4_000, seed=3)
    encoder = FeatureEncoder.fit(table, FEATURES)
    matrix = encoder.matrix(table)
    keys = table["person_key"].to_numpy(zero_copy_only=False)
    model = fit_model(algorithm, matrix, table["label"].to_numpy(), keys, encoder).model
    contributions = model.contributions(matrix[:500])
    np.testing.assert_allclose(contributions.sum(axis=1), model.raw_score(matrix[:500]), atol=1e-8)


def test_score_is_log_odds_points_around_the_base_rate():
    base = 0.02
    doubled = 2 * base / (1 - base) / (1 + 2 * base / (1 - base))  # odds twice the base odds
    assert score_from_probability(np.array([base, doubled, 0.0, 1.0]), base).tolist() == [50, 60, 0, 100]
    probability = np.random.default_rng(0).beta(0.5, 20, 5_000)
    order = np.argsort(probability)
    assert np.all(np.diff(score_from_probability(probability, base)[order]) >= 0)
    percentile = percentiles(probability)
    assert np.all(np.diff(percentile[order]) >= 0) and percentile.min() >= 1 and percentile.max() == 100
    assert percentiles(np.array([0.1, 0.1, 0.2, 0.3])).tolist() == [50, 50, 75, 100]


def test_tiers_follow_cutoffs_or_sales_capacity():
    score = np.array([90, 70, 69, 40, 39, 0])
    probability = score / 100
    keys = np.array(list("abcdef"))
    assert tiers(score, probability, keys, ScoringPolicy(70, 40)).tolist() == [0, 0, 1, 1, 2, 2]
    by_capacity = tiers(score, probability, keys, ScoringPolicy(70, 40, a_capacity=3))
    assert by_capacity.tolist() == [0, 0, 0, 1, 2, 2]


def test_exploration_draws_a_fixed_random_cohort_of_tier_c():
    keys = pa.array([f"P-{i:06d}" for i in range(100_000)])
    draws = stable_unit_interval(keys)
    # Uniform on [0, 1), the same on every call and for the same key in another batch or chunking.
    assert 0 <= draws.min() and draws.max() < 1 and abs(draws.mean() - 0.5) < 0.01
    assert np.histogram(draws, bins=10, range=(0, 1))[0].min() > 9_500
    assert np.array_equal(stable_unit_interval(pa.chunked_array([keys[:10], keys[10:20]])), draws[:20])
    assert (
        stable_unit_interval(pa.array(["Zoë Müller", "Zoe Muller", ""])).tolist()
        == stable_unit_interval(pa.array(["x", "Zoë Müller", "Zoe Muller", ""]).slice(1)).tolist()
    )
    tier = np.tile([0, 1, 2, 2], 25_000)
    policy = ScoringPolicy(exploration_share=0.02, exploration_route="Explore")
    flagged = exploration_slice(tier, keys, policy)
    assert not flagged[tier < 2].any()
    assert abs(flagged.sum() / (tier == 2).sum() - 0.02) < 0.003
    assert not exploration_slice(tier, keys, ScoringPolicy()).any()


def test_scores_route_the_exploration_slice(trained):
    features = leads(5_000, seed=6)
    policy = ScoringPolicy(70, 40, exploration_share=0.05, exploration_route="Explore")
    scored = score_records(trained, features, "person_key", policy)
    flagged = scored.filter(scored["exploration"])
    assert 0.03 < flagged.num_rows / pc.sum(pc.equal(scored["tier"], "C")).as_py() < 0.07
    assert set(flagged["tier"].to_pylist()) == {"C"} and set(flagged["route"].to_pylist()) == {"Explore"}
    rest = scored.filter(pc.invert(scored["exploration"]))
    assert "Explore" not in rest["route"].to_pylist()
    # The same leads on another day: the slice is a fixed cohort, not a new draw.
    again = score_records(trained, features.slice(1_000), "person_key", policy)
    dropped = set(features["person_key"].to_pylist()[:1_000])
    assert set(again.filter(again["exploration"])["person_key"].to_pylist()) == {
        key for key in flagged["person_key"].to_pylist() if key not in dropped
    }


def test_intraday_re_tiering_keeps_the_exploration_slice(trained):
    """A few persons rescored during the day: with a sales-capacity tier A they first rank among
    themselves (most in A), then against the morning's cut-off (most drop to C), and the ones of
    the exploration cohort that land in C are flagged as in the daily run."""
    policy = ScoringPolicy(70, 40, a_capacity=40, exploration_share=0.5, exploration_route="Explore")
    few = leads(50, seed=9)
    scored = score_records(trained, few, "person_key", policy)
    morning = np.full(10_000, 0.99)  # a morning population where only p >= 0.99 made tier A
    placed = relative_to_population(scored, "person_key", morning, 0.99, policy)
    tier = np.array([{"A": 0, "B": 1, "C": 2}[t] for t in placed["tier"].to_pylist()])
    expected = exploration_slice(tier, few["person_key"], policy)
    assert expected.sum() > 5
    assert placed["exploration"].to_pylist() == expected.tolist()
    assert [r == "Explore" for r in placed["route"].to_pylist()] == expected.tolist()


def test_scores_reasons_and_change_drivers(trained):
    today = leads(2_000, seed=4)
    # Planted: one lead's pricing-page burst this week, on top of yesterday's same profile.
    burst = pc.equal(today["person_key"], "P-00007")
    yesterday = today
    today = today.set_column(
        1, "pricing_visits_7d", pc.if_else(burst, pa.scalar(6.0), today["pricing_visits_7d"])
    )
    scored = score_records(trained, today, "person_key", ScoringPolicy(70, 40), previous_features=yesterday)
    rows = {r["person_key"]: r for r in scored.to_pylist()}
    planted = rows["P-00007"]
    assert planted["influential_factors"][0]["code"] == "pricing_visits"
    assert planted["influential_factors"][0]["reason"] == "Visited the pricing page 6x in the last 7 days"
    assert planted["change_drivers"][0] == {
        "code": "pricing_visits",
        "direction": "up",
        "log_odds": planted["change_drivers"][0]["log_odds"],
    }
    assert planted["change_drivers"][0]["log_odds"] > 0.5
    assert sum(len(r["change_drivers"]) for r in rows.values()) == len(planted["change_drivers"])
    probability = scored["probability"].to_numpy()
    order = np.argsort(probability)
    assert np.all(np.diff(scored["score"].to_numpy()[order]) >= 0)
    for row in rows.values():
        strengths = [f["log_odds"] for f in row["influential_factors"]]
        assert strengths == sorted(strengths, reverse=True) and all(s > 0 for s in strengths)
        for factor in row["influential_factors"]:
            expected = (
                "high"
                if factor["log_odds"] >= HIGH_LOG_ODDS
                else "medium"
                if factor["log_odds"] >= MEDIUM_LOG_ODDS
                else "low"
            )
            assert factor["importance"] == expected
        assert (
            row["route"]
            == {"A": "Senior AE - call within 1 hour", "B": "SDR queue", "C": "Nurture"}[row["tier"]]
        )


def test_phrases():
    assert phrase("account_engaged_persons_30d", 3.0) == (
        "3",
        "Account: 3 people engaged in the last 30 days",
    )
    assert phrase("job_seniority", 1.0, ("Director", "VP")) == ("VP", "Seniority: VP")
    assert phrase("email_open_rate_90d", 0.25) == ("25%", "Opened 25% of emails in the last 90 days")
    assert phrase("some_custom_field", 2.5) == ("2.50", "Some custom field: 2.50")


def test_storage_is_idempotent_and_exports_only_changes(trained, tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    day1, day2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
    features = leads(500, seed=5)
    first = score_records(trained, features, "person_key", ScoringPolicy(70, 40))
    write_scores(con, "person", "lead_conversion", day1, 1, first, dt.datetime(2026, 1, 5, 6))
    changed = features.set_column(1, "pricing_visits_7d", pc.add(features["pricing_visits_7d"], 0.0))
    changed = changed.set_column(
        1,
        "pricing_visits_7d",
        pc.if_else(pc.equal(changed["person_key"], "P-00003"), pa.scalar(8.0), changed["pricing_visits_7d"]),
    )
    second = score_records(trained, changed, "person_key", ScoringPolicy(70, 40), previous_features=features)
    for _ in range(2):  # a backfill run twice leaves the same rows
        written = write_scores(con, "person", "lead_conversion", day2, 1, second, dt.datetime(2026, 1, 6, 6))
    assert written.rows == 500 and written.previous_score_date == day1
    counts = con.sql("select score_date, count(*) from scores.person_scores group by 1 order by 1").fetchall()
    assert counts == [(day1, 500), (day2, 500)]
    assert written.changed == 1
    rows, csv_path, parquet_path = export_changes(con, "person", "lead_conversion", day2, tmp_path / "crm")
    assert rows == 1
    exported = con.sql(f"select * from read_csv('{csv_path}')").fetchall()
    header = [c[0] for c in con.sql(f"describe select * from read_csv('{csv_path}')").fetchall()]
    assert header[:6] == [
        "Lead_ID",
        "Scoring_Goal__c",
        "Score_Date__c",
        "Predictive_Score__c",
        "Score_Percentile__c",
        "Score_Tier__c",
    ]
    assert exported[0][0] == "P-00003" and "pricing page 8x" in exported[0][9]
    assert con.sql(f"select count(*) from read_parquet('{parquet_path}')").fetchall()[0][0] == 1
    first_day_rows = export_changes(con, "person", "lead_conversion", day1, tmp_path / "crm")[0]
    assert first_day_rows == 500  # everyone is new on the first score date


def test_account_rollups_on_a_hand_made_example():
    accounts = pa.array(["A", "A", "A", "A", "B", None, "C"])
    probability = np.array([0.5, 0.1, 0.2, 0.4, 0.3, 0.9, 0.0])
    rolled = {row["account_key"]: row for row in rollup_persons(accounts, probability).to_pylist()}
    assert rolled["A"]["persons"] == 4 and rolled["A"]["max"] == pytest.approx(0.5)
    assert rolled["A"]["noisy_or"] == pytest.approx(1 - 0.5 * 0.9 * 0.8 * 0.6)
    assert rolled["A"]["top3_mean"] == pytest.approx((0.5 + 0.4 + 0.2) / 3)
    assert rolled["B"] == {
        "account_key": "B",
        "persons": 1,
        "max": 0.3,
        "noisy_or": pytest.approx(0.3),
        "top3_mean": 0.3,
    }
    assert rolled["C"]["noisy_or"] == 0.0 and set(rolled) == {
        "A",
        "B",
        "C",
    }  # the unlinked person is left out
    values = rollups_for(pa.array(["B", "Z", "A"]), rollup_persons(accounts, probability))
    assert values["max"].tolist() == [0.3, 0.0, 0.5]


def test_a_winning_rollup_scores_the_accounts(trained):
    """When the backtest ranks a roll-up above the account model, the model scores with it:
    calibrated roll-up probability, and the roll-ups as factors."""
    rng = np.random.default_rng(7)
    rolled = rng.random(4_000)
    label = (rng.random(4_000) < rolled * 0.3).astype(np.int8)

    def candidate(name: str, score: np.ndarray) -> CandidateResult:
        return CandidateResult(name, score, evaluate(score, label), {}, [], [], [], "")

    report = BacktestReport([], np.arange(4_000), label, {}, "none")
    report.candidates = {
        "lightgbm": candidate("lightgbm", rng.random(4_000)),
        "rollup_max": candidate("rollup_max", rolled),
    }
    account_model = copy.deepcopy(trained)
    assert adopt_best_source(account_model, report, "lightgbm", "lead_conversion") == "rollup_max"
    assert (account_model.rollup_source, account_model.rollup_person_goal) == ("max", "lead_conversion")
    features = leads(3, seed=8)
    rollups = {
        "max": np.array([0.9, 0.5, 0.1]),
        "noisy_or": np.array([0.95, 0.6, 0.1]),
        "top3_mean": np.array([0.5, 0.3, 0.1]),
    }
    scored = score_records(account_model, features, "person_key", ScoringPolicy(70, 40), rollups=rollups)
    probability = scored["probability"].to_numpy()
    np.testing.assert_allclose(probability, account_model.rollup_calibrator.probability(rollups["max"]))
    assert probability[0] > probability[1] > probability[2]
    first = scored["influential_factors"][0].as_py()
    assert [f["code"] for f in first] == ["rollup_max", "rollup_noisy_or", "rollup_top3_mean"]
    assert first[0]["reason"] == "Most likely person of the account: 90%"
    assert scored["rollup_noisy_or"].to_pylist() == [0.95, 0.6, 0.1]
    with pytest.raises(ValueError, match="person scores are needed"):
        score_records(account_model, features, "person_key", ScoringPolicy(70, 40))


def test_days_scored_out_of_order_keep_previous_scores_right(trained, tmp_path):
    """A backfill runs its days in any order: scoring an earlier day refreshes the next day's
    previous score, change and so its export."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    day1, day2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
    features = leads(300, seed=9)
    burst = features.set_column(
        1,
        "pricing_visits_7d",
        pc.if_else(
            pc.equal(features["person_key"], "P-00001"), pa.scalar(9.0), features["pricing_visits_7d"]
        ),
    )
    at = dt.datetime(2026, 1, 6, 6)
    write_scores(
        con,
        "person",
        "lead_conversion",
        day2,
        1,
        score_records(trained, burst, "person_key", ScoringPolicy()),
        at,
    )
    write_scores(
        con,
        "person",
        "lead_conversion",
        day1,
        1,
        score_records(trained, features, "person_key", ScoringPolicy()),
        at,
    )
    changed = con.sql(
        "select person_key from scores.person_scores where score_date = '2026-01-06' "
        "and (previous_score is null or score <> previous_score or tier <> previous_tier)"
    ).fetchall()
    assert changed == [("P-00001",)]
    assert con.sql(
        "select count(*) from scores.person_scores where score_date = '2026-01-06' and previous_score is null"
    ).fetchall() == [(0,)]
    assert export_changes(con, "person", "lead_conversion", day2, tmp_path / "crm")[0] == 1
