"""Champion/challenger on the 400-day world (a copy): a model that loses its backtest scores in
shadow, is compared with the champion on the same persons once their window has passed, and is
promoted only when it wins on realized outcomes."""

import datetime
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml

from b2b_scoring.defs.monitoring.assets import challenger_key
from b2b_scoring.defs.scoring.assets import score_key
from b2b_scoring.lib.goals import ChallengerPolicy, GoalsError, default_goals_path, parse_goals
from b2b_scoring.lib.ml.goal_training import train_goal
from b2b_scoring.lib.ml.registry import challenger, champion, promote, register_model
from b2b_scoring.lib.ml.training_sets import data_span, training_set
from b2b_scoring.lib.monitoring.challenger import challenger_verdict, pair_comparison
from b2b_scoring_tests.conftest import PersonScoring, copy_year_world, use_year_world

GOAL_NAME = "lead_conversion"
# Score dates 2025-03-02..04: their 90-day windows have passed by the world's last day.
PAST_DAYS = ("2025-03-01", "2025-03-02", "2025-03-03")
NOW = datetime.datetime(2025, 7, 1)
# The last snapshot trained on (2024-11-25) has labels up to 90 days later (2025-02-23).
TRAINED_BEFORE = datetime.date(2024, 12, 1)
POLICY = ChallengerPolicy(min_matured_dates=3, min_auc_gain=0.005)


def test_verdict_needs_enough_dates_a_mean_gain_and_wins_on_two_thirds() -> None:
    champion_auc = np.array([0.80, 0.80, 0.80])
    assert challenger_verdict(champion_auc[:2], champion_auc[:2] + 0.1, POLICY, 2).reason.startswith(
        "challenger v2: 2 of 3 matured score dates needed"
    )
    assert not challenger_verdict(champion_auc, champion_auc, POLICY, 2).promote
    assert not challenger_verdict(champion_auc, champion_auc + 0.004, POLICY, 2).promote
    # A large gain on one date does not outweigh losing the other two.
    lopsided = challenger_verdict(champion_auc, champion_auc + [0.09, -0.01, -0.01], POLICY, 2)
    assert (lopsided.promote, lopsided.final, lopsided.wins) == (False, True, 1)
    assert round(lopsided.mean_auc_gain, 4) == 0.0233 and lopsided.reason.endswith("retired")
    assert not challenger_verdict(champion_auc[:2], champion_auc[:2] + 0.1, POLICY, 2).final
    won = challenger_verdict(champion_auc, champion_auc + [0.02, 0.01, -0.001], POLICY, 2)
    assert won.promote and won.wins == 2 and "promoted" in won.reason


def test_challenger_config_is_validated() -> None:
    document = yaml.safe_load(default_goals_path().read_text())
    lead = document["goals"][0]
    assert parse_goals(document).get(GOAL_NAME).challenger == ChallengerPolicy(None, 7, 0.005)
    lead["challenger"] = {"algorithm": "logistic_regression", "min_matured_dates": 3}
    assert parse_goals(document).get(GOAL_NAME).challenger == ChallengerPolicy(
        "logistic_regression", 3, 0.005
    )
    for wrong, message in (
        ({"algorithm": "lightgbm"}, "other than the goal's own lightgbm"),
        ({"min_matured_dates": 0}, "min_matured_dates: expected a positive whole number"),
        ({"min_auc_gain": "a lot"}, "min_auc_gain: expected a number"),
        ({"after": 3}, "unknown field(s) after"),
    ):
        lead["challenger"] = wrong
        with pytest.raises(GoalsError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_goals(document)


def _goals_file(directory: Path) -> Path:
    """The default goals with promotions decided after 3 matured score dates."""
    text = default_goals_path().read_text()
    assert "min_matured_dates: 7" in text
    path = directory / "goals.yaml"
    path.write_text(text.replace("min_matured_dates: 7", "min_matured_dates: 3"))
    return path


def _score_past_days(scoring: PersonScoring) -> list[dg.ExecuteInProcessResult]:
    results = [scoring.score(day) for day in PAST_DAYS]
    assert all(result.success for result in results)
    return results


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    return next(
        m.materialization.metadata for m in result.get_asset_materialization_events() if m.asset_key == key
    )


def _comparison_metadata(result: dg.ExecuteInProcessResult) -> dict:
    return _metadata(result, challenger_key("person"))


@pytest.fixture(scope="module")
def contest(year_world, tmp_path_factory):
    """Two models trained on the snapshots before December 2024 (their labels end by February 23,
    so neither has seen the outcomes of the compared score dates, March 2-4): an informed one and
    an uninformed one (shuffled labels). Round 1: the informed model serves and the uninformed
    one, having lost its backtest, is the challenger. Round 2: the roles are swapped, as if the
    uninformed model served; the same days are scored again."""
    if not year_world.training[GOAL_NAME].success:
        pytest.skip("the lead goal of the 400-day world did not train")
    directory = tmp_path_factory.mktemp("challenger_world")
    data_dir = copy_year_world(year_world, directory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("B2B_SCORING_GOALS", str(_goals_file(directory)))
        settings = use_year_world(patch, data_dir)
        goal = settings.goals().get(GOAL_NAME)
        with duckdb.connect(str(settings.warehouse_path)) as con:
            table = training_set(con, goal, data_span(con, goal))
            table = table.filter(pc.less(table["as_of_date"], pa.scalar(TRAINED_BEFORE, pa.date32())))
            shuffled = np.random.default_rng(0).permutation(table["label"].to_numpy())
            uninformed = register_model(
                con,
                train_goal(
                    table.set_column(table.schema.get_field_index("label"), "label", pa.array(shuffled)), goal
                ),
                settings.models_dir,
                NOW,
            )
            # A later training run: it does not take the slot of the challenger being compared.
            informed = register_model(
                con, train_goal(table, goal), settings.models_dir, NOW + datetime.timedelta(days=7)
            )
            promote(con, GOAL_NAME, informed.version, "test", "test setup: trained before February", NOW)
        scoring = PersonScoring(settings, GOAL_NAME)
        scoring.features(PAST_DAYS[0], PAST_DAYS[-1])
        first_round = _score_past_days(scoring)
        with duckdb.connect(str(settings.warehouse_path)) as con:
            after_first_round = (
                challenger(con, GOAL_NAME),
                con.execute(
                    "SELECT champion_reason FROM ml.model_registry WHERE goal = ? AND version = ?",
                    [GOAL_NAME, uninformed.version],
                ).fetchall()[0][0],
            )
            promote(con, GOAL_NAME, uninformed.version, "test", "test setup: uninformed champion", NOW)
            con.execute(
                "UPDATE ml.model_registry SET challenger = (version = ?) WHERE goal = ?",
                [informed.version, GOAL_NAME],
            )
        second_round = _score_past_days(scoring)
        yield settings, uninformed, informed, after_first_round, first_round, second_round


def test_a_losing_model_scores_in_shadow_and_is_retired(contest) -> None:
    settings, uninformed, informed, after_first_round, first_round, _ = contest
    assert uninformed.challenger and uninformed.champion_reason.endswith(": challenger, scores in shadow")
    assert not informed.challenger and "kept in reserve while challenger" in informed.champion_reason
    scores = _metadata(first_round[0], score_key("person"))
    assert scores["challenger"].value == f"v{uninformed.version} (lightgbm), scores in shadow"
    assert scores["shadow_rows"].value == scores["dagster/row_count"].value
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        compared = con.execute(
            "SELECT c.score_date, c.scored, c.conversions, r.scored, r.conversions, c.champion_roc_auc, "
            "c.challenger_roc_auc, r.roc_auc FROM monitoring.challenger_performance AS c "
            "JOIN monitoring.realized_performance AS r USING (goal, score_date) "
            "WHERE c.challenger_version = ? ORDER BY 1",
            [uninformed.version],
        ).fetchall()
    # Each matured date compared once, on the same persons and labels as the realized performance.
    assert [str(row[0]) for row in compared] == ["2025-03-02", "2025-03-03", "2025-03-04"]
    for (
        _,
        scored,
        conversions,
        realized_scored,
        realized_conversions,
        champion_auc,
        challenger_auc,
        auc,
    ) in compared:
        assert (scored, conversions) == (realized_scored, realized_conversions) and conversions > 0
        assert champion_auc == pytest.approx(auc) and champion_auc > 0.65
        assert challenger_auc < champion_auc - 0.1  # the uninformed model ranks far worse
    verdicts = [_comparison_metadata(result) for result in first_round]
    assert [m["matured_dates_compared"].value for m in verdicts] == [1, 2, 3]
    assert not any(m["promoted"].value for m in verdicts)
    # Judged on enough dates and lost: no longer a challenger, and the registry says why.
    still_challenger, reason = after_first_round
    assert verdicts[-1]["challenger"].value.endswith(": retired") and still_challenger is None
    assert reason.startswith(f"realized ROC-AUC of challenger v{uninformed.version} -0.") and reason.endswith(
        "retired"
    )


def test_a_challenger_that_wins_on_realized_outcomes_is_promoted(contest) -> None:
    settings, uninformed, informed, _, _, second_round = contest
    verdicts = [_comparison_metadata(result) for result in second_round]
    assert [m["promoted"].value for m in verdicts] == [False, False, True]
    assert verdicts[-1]["mean_auc_gain"].value > 0.1
    assert verdicts[-1]["champion_version"].value == informed.version
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert champion(con, GOAL_NAME)["version"] == informed.version
        assert challenger(con, GOAL_NAME) is None
        promotions = con.execute(
            "SELECT version, previous_version, basis FROM ml.model_promotions "
            "WHERE goal = ? AND basis <> 'training' ORDER BY promoted_at, rowid",
            [GOAL_NAME],
        ).fetchall()
        reason = con.execute(
            "SELECT champion_reason FROM ml.model_registry WHERE goal = ? AND champion", [GOAL_NAME]
        ).fetchall()[0][0]
    assert promotions == [
        (informed.version, 1, "test"),
        (uninformed.version, informed.version, "test"),
        (informed.version, uninformed.version, "shadow"),
    ]
    assert (
        reason.startswith(f"realized ROC-AUC of challenger v{informed.version} +0.") and "promoted" in reason
    )


def test_outcomes_a_model_learnt_from_do_not_judge_it(contest) -> None:
    settings, uninformed, informed, *_ = contest
    goal = settings.goals().get(GOAL_NAME)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert len(pair_comparison(con, goal, informed.version, uninformed.version)) == 3
        # Had the challenger's last training snapshot been December 4 (labels up to March 3), the
        # outcomes of score dates March 2 and 3 would be in its labels: only March 4 counts.
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "UPDATE ml.model_registry SET data_end = DATE '2024-12-04' WHERE goal = ? AND version = ?",
            [GOAL_NAME, uninformed.version],
        )
        compared = pair_comparison(con, goal, informed.version, uninformed.version)
        assert [row[0] for row in compared] == [datetime.date(2025, 3, 4)]
        con.execute("ROLLBACK")
