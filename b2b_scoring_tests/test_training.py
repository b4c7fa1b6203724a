"""Per-goal training in the pipeline: gates as blocking checks, walk-forward backtest against the
simulator's oracle and the baselines, calibration, importance and the model registry."""

import dataclasses
import datetime
import json
import shutil
from collections.abc import Iterator

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pytest

from b2b_scoring.defs.resources import resources
from b2b_scoring.defs.training.assets import training_definitions
from b2b_scoring.lib.goals import Feedback
from b2b_scoring.lib.ml.goal_training import DISPOSITION_FEATURES, feature_columns, train_goal
from b2b_scoring.lib.ml.registry import challenger, load_model, register_model
from b2b_scoring.lib.ml.training_sets import (
    Sampling,
    conversions_sql,
    data_span,
    label_summary,
    sampling_for,
    training_set,
)
from b2b_scoring_tests.conftest import YEAR_ENV, YearWorld


@pytest.fixture(scope="module")
def registry(year_world: YearWorld) -> Iterator[list[dict]]:
    with duckdb.connect(str(year_world.settings.warehouse_path), read_only=True) as con:
        columns = [d[0] for d in con.execute("select * from ml.model_registry limit 0").description]
        rows = con.execute("select * from ml.model_registry order by goal, version").fetchall()
    yield [dict(zip(columns, row, strict=True)) for row in rows]


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_each_goal_passes_its_gates_and_registers_a_champion(
    year_world: YearWorld, registry: list[dict]
) -> None:
    for goal, result in year_world.training.items():
        checks = check_results(result)
        assert checks["enough_conversions"].passed, goal
        # 400 days: enough (6 months + 90 days) but below the recommended two years -> a warning.
        history = checks["enough_history"]
        assert not history.passed and history.severity == dg.AssetCheckSeverity.WARN
        assert "below the recommended 2 years" in history.description
        assert result.success, goal
    assert [(row["goal"], row["version"], row["champion"]) for row in registry] == [
        ("lead_conversion", 1, True),
        ("opportunity_contract", 1, True),
    ]
    for row in registry:
        metrics = json.loads(row["metrics"])
        rollups = (
            {"rollup_max", "rollup_noisy_or", "rollup_top3_mean"}
            if row["goal"] == "opportunity_contract"
            else set()
        )
        assert set(metrics["backtest"]) == {"lightgbm", "logistic_regression", "rules_baseline", *rollups}
        assert len(metrics["folds"]) == 3 and row["champion_reason"] == "first model of the goal"
        assert row["data_start"] < row["data_end"] and row["training_rows"] > 1000
        assert "has_converted" not in row["features"] and "person_key" not in row["features"]


def test_account_model_is_compared_with_rollups_of_person_scores(registry: list[dict]) -> None:
    """The account goal's backtest also scores accounts by rolling up walk-forward person scores;
    on the simulator the account-level model wins (contracts follow account-level episodes), and
    the roll-ups still rank accounts better than chance."""
    metrics = json.loads(next(r for r in registry if r["goal"] == "opportunity_contract")["metrics"])
    backtest = metrics["backtest"]
    model = backtest["lightgbm"]["metrics"]["roc_auc"]
    for name in ("rollup_max", "rollup_noisy_or", "rollup_top3_mean"):
        assert 0.5 < backtest[name]["metrics"]["roc_auc"] < model, name
    assert metrics["score_source"] == "lightgbm"


def test_model_beats_the_rules_baseline_and_is_calibrated(registry: list[dict]) -> None:
    account = json.loads(next(r for r in registry if r["goal"] == "lead_conversion")["metrics"])
    model, rules = (account["backtest"][name]["metrics"] for name in ("lightgbm", "rules_baseline"))
    assert model["roc_auc"] > rules["roc_auc"] + 0.02
    assert model["calibration_error"] < 0.02
    low, high = account["backtest"]["lightgbm"]["intervals"]["roc_auc"]
    assert low < model["roc_auc"] < high


def test_registered_artifact_scores_the_training_rows(year_world: YearWorld, registry: list[dict]) -> None:
    row = next(r for r in registry if r["goal"] == "lead_conversion")
    model = load_model(row["artifact_path"])
    goal = year_world.settings.goals().get("lead_conversion")
    with duckdb.connect(str(year_world.settings.warehouse_path), read_only=True) as con:
        table = training_set(con, goal, data_span(con, goal))
    probability = model.probability(table)
    assert probability.min() >= 0 and probability.max() <= 1
    # Calibrated: the mean probability is close to the observed conversion rate.
    observed = pa.compute.mean(table["label"]).as_py()
    assert abs(probability.mean() - observed) < 0.3 * observed
    assert model.encoder.names == list(row["features"])


def test_a_goal_above_its_row_budget_trains_on_weighted_samples_and_stays_calibrated(
    year_world: YearWorld,
) -> None:
    """Above the budget a goal trains on every positive snapshot and a share of the negatives
    weighed back: its base rate and probabilities are the population's, and its backtest tests
    unweighted rows of a share of the keys."""
    goal = year_world.settings.goals().get("lead_conversion")
    with duckdb.connect(str(year_world.settings.warehouse_path), read_only=True) as con:
        span = data_span(con, goal)
        summary = label_summary(con, goal, span)
        sampling = sampling_for(summary, span, summary.rows // 4)
        table = training_set(con, goal, span, sampling)
    training = train_goal(table, goal)
    weight = table["sample_weight"].to_numpy()
    assert training.training_rows == int((weight > 0).sum()) < summary.rows // 3
    population_rate = summary.positive_rows / summary.rows
    sampled_rate = table["label"].to_numpy()[weight > 0].mean()
    assert sampled_rate > 3 * population_rate
    assert training.trained.base_rate == pytest.approx(population_rate, rel=0.05)
    report = training.backtest
    assert all(table["in_evaluation"].take(pa.array(report.test_rows)).to_pylist())
    assert report.model.metrics["calibration_error"] < 0.02
    # Weighed back, the final model's probabilities average the population's rate (unweighted
    # they would be about 1 / negative share times too high).
    training_rows = weight > 0
    probability = training.trained.probability(table.filter(pa.array(training_rows)))
    assert np.average(probability, weights=weight[training_rows]) == pytest.approx(population_rate, rel=0.2)


def test_a_retrained_model_is_champion_only_when_it_beats_the_champion(
    year_world: YearWorld, tmp_path
) -> None:
    """Register the same training twice on a copy of the registry: the second does not beat the
    first (equal backtest), so the first stays champion; a better backtest takes over."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(year_world.settings.warehouse_path, copy)
    goal = year_world.settings.goals().get("opportunity_contract")
    with duckdb.connect(str(copy)) as con:
        training = train_goal(training_set(con, goal, data_span(con, goal)), goal)
        now = datetime.datetime(2025, 7, 1)
        same = register_model(con, training, tmp_path / "models", now)
        assert (same.version, same.champion) == (2, False)
        assert "does not beat champion v1" in same.champion_reason
        assert challenger(con, goal.name)["version"] == 2  # scores in shadow from now on
        training.backtest.model.metrics["roc_auc"] += 0.01
        better = register_model(con, training, tmp_path / "models", now)
        assert (better.version, better.champion) == (3, True)
        assert con.execute(
            "select version from ml.model_registry where goal = ? and champion", [goal.name]
        ).fetchall() == [(3,)]
        # A new champion starts without a challenger; every change of champion is on record.
        assert challenger(con, goal.name) is None
        assert con.execute(
            "select version, previous_version, basis from ml.model_promotions where goal = ? "
            "order by version",
            [goal.name],
        ).fetchall() == [(1, None, "training"), (3, 1, "training")]
        assert (tmp_path / "models" / goal.name / "v3.pkl").is_file()
        # A champion whose artifact cannot score (deleted here) gives way to an equal model.
        (tmp_path / "models" / goal.name / "v3.pkl").unlink()
        replacement = register_model(con, training, tmp_path / "models", now)
        assert (replacement.version, replacement.champion) == (4, True)
        assert replacement.champion_reason == "champion v3 cannot score (artifact missing or too old)"
        # Losers: the first becomes the challenger, the next waits in reserve until it is judged.
        training.backtest.model.metrics["roc_auc"] -= 0.02
        first, second = (register_model(con, training, tmp_path / "models", now) for _ in range(2))
        assert (first.challenger, second.challenger) == (True, False)
        assert second.champion_reason.endswith("kept in reserve while challenger v5 is compared in shadow")
        assert challenger(con, goal.name)["version"] == 5
        # Of two losers of one training run (same trained_at), the better backtest is the challenger.
        training.backtest.model.metrics["roc_auc"] += 0.01
        better_loser = register_model(con, training, tmp_path / "models", now)
        assert (better_loser.version, better_loser.champion, better_loser.challenger) == (7, False, True)
        assert challenger(con, goal.name)["version"] == 7
        assert (
            con.execute(
                "select champion_reason from ml.model_registry where goal = ? and version = 5", [goal.name]
            )
            .fetchall()[0][0]
            .endswith(": kept in reserve, v7 of the same training backtests better")
        )


def test_a_challenger_algorithm_registers_under_the_goal_definition(year_world: YearWorld, tmp_path) -> None:
    """goals.yaml's challenger algorithm is trained as a variant of the goal: same fingerprint (not
    "goal definition changed"), its own algorithm, champion only when its backtest wins."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(year_world.settings.warehouse_path, copy)
    goal = year_world.settings.goals().get("lead_conversion")
    variant = dataclasses.replace(goal, algorithm="logistic_regression")
    with duckdb.connect(str(copy)) as con:
        training = train_goal(training_set(con, goal, data_span(con, goal), Sampling.of_keys(0.3)), variant)
        registered = register_model(con, training, tmp_path / "models", datetime.datetime(2025, 7, 1), goal)
        row = con.execute(
            "select algorithm, goal_fingerprint, champion, challenger from ml.model_registry "
            "where goal = ? and version = 2",
            [goal.name],
        ).fetchall()[0]
        champion_auc = json.loads(
            con.execute(
                "select metrics from ml.model_registry where goal = ? and version = 1", [goal.name]
            ).fetchall()[0][0]
        )["backtest"]["lightgbm"]["metrics"]["roc_auc"]
    own_auc = training.backtest.candidates["logistic_regression"].metrics["roc_auc"]
    assert row[:2] == ("logistic_regression", goal.fingerprint())
    assert (row[2], row[3]) == (own_auc > champion_auc, own_auc <= champion_auc)
    assert "goal definition changed" not in registered.champion_reason


def test_a_goal_without_enough_conversions_is_blocked_and_not_trained(
    year_world: YearWorld, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A goal whose converted_status never occurs fails its conversions gate, which blocks the
    model step; the check says why with the numbers."""
    goals_file = tmp_path / "goals.yaml"
    goals_file.write_text(
        "goals:\n  - name: rare_status\n    entity: person\n    prediction_window_days: 90\n"
        "    conversion: {event: leadOperation.convertLead, converted_status: [Never]}\n"
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(year_world.settings.warehouse_path, data_dir / "warehouse.duckdb")
    for name, value in {**YEAR_ENV, "B2B_SCORING_DATA_DIR": str(data_dir),
                        "B2B_SCORING_GOALS": str(goals_file)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    result = dg.materialize(
        training_definitions().assets, resources=resources().resources, partition_key="rare_status",
        raise_on_error=False,
    )  # fmt: skip
    gate = check_results(result)["enough_conversions"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    assert "0 persons converted" in gate.description and gate.metadata["required"].value == 10
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey(["ml", "training_sets"])}
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select count(*) from ml.model_registry where goal = 'rare_status'"
        ).fetchall() == [(0,)]


def test_dispositions_feed_back_as_point_in_time_features_or_as_labels(year_world: YearWorld) -> None:
    goal = year_world.settings.goals().get("lead_conversion")
    with duckdb.connect(str(year_world.settings.warehouse_path), read_only=True) as con:
        # Recomputed here from the dispositions themselves: the last one strictly before each as-of date.
        wrong, with_history = con.execute(
            """
            WITH expected AS (
                SELECT f.person_key, f.as_of_date, any_value(f.last_disposition) AS last_disposition,
                       any_value(f.dispositions_lifetime) AS dispositions_lifetime,
                       any_value(f.rejections_lifetime) AS rejections_lifetime,
                       any_value(f.days_since_disposition) AS days_since_disposition,
                       arg_max(d.disposition, d.disposition_at) AS last, count(d.person_key) AS n,
                       count(d.person_key) FILTER (WHERE d.disposition IN ('rejected', 'disqualified')) AS r,
                       max(d.disposition_at)::DATE AS last_date
                FROM features.person_feature_history AS f
                LEFT JOIN staging.stg_sales_dispositions AS d
                  ON d.person_key = f.person_key AND d.disposition_at::DATE < f.as_of_date
                GROUP BY f.person_key, f.as_of_date
            )
            SELECT count(*) FILTER (
                       WHERE last IS DISTINCT FROM last_disposition OR n <> dispositions_lifetime
                          OR r <> rejections_lifetime
                          OR as_of_date - last_date IS DISTINCT FROM days_since_disposition
                   ),
                   count(*) FILTER (WHERE n > 0)
            FROM expected
            """
        ).fetchall()[0]
        span = data_span(con, goal)
        as_labels = dataclasses.replace(goal, feedback=Feedback("labels", ("accepted",)))
        conversions = [
            con.execute(f"SELECT count(*) FROM ({sql})", parameters).fetchall()[0][0]
            for sql, parameters in (conversions_sql(goal), conversions_sql(as_labels))
        ]
        accepted = con.execute(
            "SELECT count(*) FROM staging.stg_sales_dispositions WHERE disposition = 'accepted'"
        ).fetchall()[0][0]
        positives = [label_summary(con, g, span).positive_rows for g in (goal, as_labels)]
        table = training_set(con, goal, span, Sampling.of_keys(0.1))
    assert wrong == 0 and with_history > 1_000
    assert accepted > 0 and conversions[1] == conversions[0] + accepted
    assert positives[1] >= positives[0] > 0
    assert set(DISPOSITION_FEATURES) <= set(feature_columns(table, goal))
    for use in ("labels", "none"):
        variant = dataclasses.replace(goal, feedback=Feedback(use))
        assert not set(DISPOSITION_FEATURES) & set(feature_columns(table, variant))
