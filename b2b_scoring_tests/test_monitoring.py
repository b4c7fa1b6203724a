"""Monitoring on the 400-day world (a copy): realized performance of score dates whose window has
passed, drift against the training window with a blocking check that holds back the CRM export
until acknowledged, and alerts raised once."""

import json

import dagster as dg
import duckdb
import numpy as np
import pytest

from b2b_scoring.cli import main
from b2b_scoring.defs.monitoring.assets import DRIFT_CHECK
from b2b_scoring.defs.scoring.assets import drift_key, export_key
from b2b_scoring.lib.monitoring.drift import population_stability_index
from b2b_scoring_tests.conftest import PersonScoring, copy_year_world, use_year_world

GOAL_NAME = "lead_conversion"
# Score dates 2025-03-02..04 have matured by the world's last day (90-day window); 2025-06-30 not.
PAST_DAYS = ("2025-03-01", "2025-03-02", "2025-03-03")
TODAY = "2025-06-29"


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 50_000)
    shifts = [population_stability_index(reference, rng.normal(shift, 1, 50_000)) for shift in (0, 0.3, 0.6)]
    assert shifts[0] < 0.005 and 0.05 < shifts[1] < 0.15 and shifts[2] > 0.25
    # Counts seen weekly (multiples of 7) against the same counts seen daily: no drift by construction.
    weekly = rng.integers(0, 30, 50_000) * 7.0
    daily = weekly + rng.integers(0, 7, 50_000)
    assert population_stability_index(weekly, daily) < 0.05
    codes = rng.integers(0, 4, 50_000).astype(float)
    assert population_stability_index(codes, codes, categorical=True) == 0
    assert population_stability_index(codes, np.where(codes == 3, np.nan, codes), categorical=True) > 1


@pytest.fixture(scope="module")
def monitored(year_world, tmp_path_factory):
    if not year_world.training[GOAL_NAME].success:
        pytest.skip("the lead goal of the 400-day world did not train")
    data_dir = copy_year_world(year_world, tmp_path_factory.mktemp("monitoring_world"))
    with pytest.MonkeyPatch.context() as patch:
        scoring = PersonScoring(use_year_world(patch, data_dir), GOAL_NAME)
        scoring.features(PAST_DAYS[0], PAST_DAYS[-1])
        scoring.features(TODAY, TODAY)
        past = [scoring.score(day) for day in PAST_DAYS]
        today = scoring.score(TODAY)
        yield scoring, past, today


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    return next(
        m for m in result.get_asset_materialization_events() if m.asset_key == key
    ).materialization.metadata


def test_realized_performance_tiers_and_segments(monitored) -> None:
    scoring, past, today = monitored
    assert all(result.success for result in past) and today.success
    with duckdb.connect(str(scoring.settings.warehouse_path), read_only=True) as con:
        realized = con.execute(
            "SELECT score_date, scored, conversions, roc_auc, lift_at_10, calibration_error "
            "FROM monitoring.realized_performance WHERE goal = ? ORDER BY score_date",
            [GOAL_NAME],
        ).fetchall()
        scored = con.execute(
            "SELECT score_date, count(*) FROM scores.person_scores WHERE score_date <= DATE '2025-03-04' "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        tiers = con.execute(
            "SELECT tier, sum(scored), sum(conversions) FROM monitoring.tier_performance "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        segments = con.execute(
            "SELECT dimension, sum(scored) FROM monitoring.segment_calibration "
            "WHERE as_of_date = DATE '2025-03-04' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    # Only the three past score dates have matured; each is evaluated once, on every scored person.
    assert [(row[0], row[1]) for row in realized] == scored
    assert all(
        conversions > 0 and auc > 0.6 and lift > 1.5 for _, _, conversions, auc, lift, _ in realized
    ), realized
    assert sum(n for _, n, _ in tiers) == sum(row[1] for row in realized)
    assert sum(c for _, _, c in tiers) == sum(row[2] for row in realized)
    rates = {tier: c / n for tier, n, c in tiers}
    assert rates["A"] > rates["C"]
    assert [d for d, _ in segments] == ["company_size", "country", "industry"]
    assert all(n == sum(row[1] for row in realized) for _, n in segments)
    metadata = _metadata(today, dg.AssetKey(["monitoring", "person_realized_performance"]))
    assert metadata["score_dates_evaluated_now"].value == 0  # evaluated by the earlier runs already
    # The recent matured dates against the backtest: the sensor retrains only on a 0.05 drop.
    recent, backtest = metadata["recent_realized_roc_auc"].value, metadata["backtest_roc_auc"].value
    assert recent == pytest.approx(np.mean([row[3] for row in realized]), abs=1e-4)
    assert metadata["model_version"].value == 1
    assert metadata["retrain_recommended"].value == (recent <= backtest - 0.05)


def test_the_exploration_slice_is_routed_and_its_outcomes_reported(monitored) -> None:
    scoring, _, today = monitored
    with duckdb.connect(str(scoring.settings.warehouse_path), read_only=True) as con:
        scored = con.execute(
            "SELECT score_date, count(*) FILTER (WHERE exploration), count(*) FILTER (WHERE tier = 'C'), "
            "count(*) FILTER (WHERE exploration AND (tier <> 'C' OR route <> 'SDR queue - exploration')) "
            "FROM scores.person_scores WHERE score_date <= DATE '2025-03-04' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        reported = con.execute(
            "SELECT score_date, slice_records, slice_records + rest_of_tier_c_records, slice_conversions, "
            "slice_worked, rest_of_tier_c_worked FROM monitoring.exploration ORDER BY 1"
        ).fetchall()
        exported = con.execute(
            "SELECT count(*) FILTER (WHERE Exploration_Slice__c), count(*) FROM read_csv(?)",
            [
                str(
                    next(
                        (scoring.settings.data_dir / "exports" / "crm").rglob("person_scores_2025-06-30.csv")
                    )
                )
            ],
        ).fetchall()[0]
    # The shipped lead goal explores 2% of tier C: only tier C, routed to its own queue, reported
    # per matured score date with what sales did with it.
    assert [(day, flagged, tier_c) for day, flagged, tier_c, _ in scored] == [r[:3] for r in reported]
    assert all(0.005 < flagged / tier_c < 0.04 and wrong == 0 for _, flagged, tier_c, wrong in scored)
    assert all(worked is not None and rest_worked > 0 for *_, worked, rest_worked in reported)
    assert 0 < exported[0] < exported[1]
    summary = _metadata(today, dg.AssetKey(["monitoring", "person_realized_performance"]))[
        "exploration_slice"
    ]
    assert summary.value["score_dates"] == 3 and summary.value["slice_records_per_date"] > 0


def test_alerts_are_raised_once(monitored, monkeypatch) -> None:
    scoring, _, today = monitored
    alerts_file = scoring.settings.alerts_file
    lines = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    with duckdb.connect(str(scoring.settings.warehouse_path), read_only=True) as con:
        recorded = con.execute(
            "SELECT alert_id, kind, record_key FROM monitoring.alerts ORDER BY alert_id"
        ).fetchall()
        tier_a = con.execute(
            "SELECT count(*) FROM scores.person_scores WHERE score_date = DATE '2025-06-30' AND tier = 'A' "
            "AND previous_tier IS DISTINCT FROM 'A'"
        ).fetchall()[0][0]
    assert sorted((line["alert_id"], line["kind"], line["record_key"]) for line in lines) == recorded
    assert tier_a > 0
    assert sum(line["kind"] == "tier_a" and line["score_date"] == "2025-06-30" for line in lines) == tier_a
    assert _metadata(today, dg.AssetKey(["monitoring", "person_alerts"]))["new_tier_a"].value == tier_a
    # The same day again: the same scores, nothing new to raise.
    use_year_world(monkeypatch, scoring.settings.data_dir)
    again = scoring.score(TODAY)
    assert _metadata(again, dg.AssetKey(["monitoring", "person_alerts"]))["new_alerts"].value == 0
    assert alerts_file.read_text().count("\n") == len(lines)


def test_drift_blocks_the_export_until_acknowledged(monitored, monkeypatch) -> None:
    scoring, _, today = monitored
    check = next(e for e in today.get_asset_check_evaluations() if e.check_name == DRIFT_CHECK)
    assert check.severity == dg.AssetCheckSeverity.WARN or check.passed
    psi = _metadata(today, drift_key("person"))["score_psi"].value
    assert psi < 0.1
    assert any(m.asset_key == export_key("person") for m in today.get_asset_materialization_events())
    with duckdb.connect(str(scoring.settings.warehouse_path)) as con:
        subjects = con.execute(
            "SELECT kind, count(*) FROM monitoring.drift WHERE score_date = DATE '2025-06-30' "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert subjects == [("feature", 10), ("score", 1)]
        # Today's population shifts: a purchased list of one segment replaced the usual mix.
        con.execute(
            "UPDATE features.person_features SET industry = 'Software', country = 'United States', "
            "job_function = 'IT', job_seniority = 'C-Level', number_of_employees = 5000, "
            "annual_revenue = 1e9, engagement_score = engagement_score * 20 + 50, "
            "days_since_last_activity = 0 WHERE as_of_date = DATE '2025-06-30'"
        )
    use_year_world(monkeypatch, scoring.settings.data_dir)
    drifted = scoring.score(TODAY)
    check = next(e for e in drifted.get_asset_check_evaluations() if e.check_name == DRIFT_CHECK)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert _metadata(drifted, drift_key("person"))["retrain_recommended"].value is True
    assert not any(m.asset_key == export_key("person") for m in drifted.get_asset_materialization_events())
    assert main(["acknowledge-drift", "--goal", GOAL_NAME, "--by", "revops@example.com"]) == 0
    acknowledged = scoring.score(TODAY)
    check = next(e for e in acknowledged.get_asset_check_evaluations() if e.check_name == DRIFT_CHECK)
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert any(m.asset_key == export_key("person") for m in acknowledged.get_asset_materialization_events())
