"""Per-goal training: the labelled training set with its gates (blocking checks), then the
backtested, calibrated model registered in ml.model_registry. Goals are the partitions, so a goal
added to goals.yaml is a new partition, not new code."""

import dataclasses
import datetime

import dagster as dg
import numpy as np
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from b2b_scoring.lib.goals import Goal
from b2b_scoring.lib.ml.goal_training import GoalTraining, leakage_gate, train_goal
from b2b_scoring.lib.ml.registry import RegisteredModel, register_model
from b2b_scoring.lib.ml.reports import (
    backtest_markdown,
    calibration_markdown,
    folds_markdown,
    gains_markdown,
    importance_markdown,
)
from b2b_scoring.lib.ml.rollup_backtest import adopt_best_source, rollup_backtest
from b2b_scoring.lib.ml.training_sets import (
    FEATURE_HISTORY,
    GateResult,
    budgeted_training_set,
    conversions_gate,
    data_span,
    history_gate,
    label_summary,
)
from b2b_scoring.lib.settings import Settings

TRAINING_SETS_KEY = dg.AssetKey(["ml", "training_sets"])
MODEL_REGISTRY_KEY = dg.AssetKey(["ml", "model_registry"])
GATES = ("enough_history", "enough_conversions", "no_leakage")


def goal_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([goal.name for goal in settings.goals().dated_goals()])


def _gate_result(gate: GateResult) -> dg.AssetCheckResult:
    # A blocking gate that fails stops the model step; a warning shows but lets training go on.
    severity = dg.AssetCheckSeverity.ERROR if gate.blocking else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name=gate.name,
        passed=gate.passed,
        severity=severity,
        description=gate.message,
        metadata=dict(gate.numbers),
    )


def training_definitions() -> dg.Definitions:
    settings = Settings.from_env()
    goals = settings.goals()
    partitions = goal_partitions(settings)
    history_deps = [dg.AssetKey(["features", table.split(".")[1]]) for table in FEATURE_HISTORY.values()]

    @dg.asset(
        key=TRAINING_SETS_KEY,
        partitions_def=partitions,
        deps=history_deps,
        group_name="training",
        kinds={"duckdb"},
        pool="duckdb",
        check_specs=[dg.AssetCheckSpec(name, asset=TRAINING_SETS_KEY, blocking=True) for name in GATES],
    )
    def training_sets(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        """Each goal's labelled weekly snapshots (label: converted within the prediction window
        after the as-of date), summarized in the metadata, and the gates a goal must pass before
        it is trained: history, conversions and leakage."""
        goal = goals.get(context.partition_key)
        with duckdb.get_connection() as con:
            span = data_span(con, goal)
            summary = label_summary(con, goal, span)
            gates = [history_gate(goal, span), conversions_gate(goal, summary)]
            gates.append(leakage_gate(con, goal, span, summary.rows))
        return dg.MaterializeResult(
            metadata={
                "goal": goal.name,
                "conversion": goal.conversion.describe(),
                "prediction_window_days": goal.prediction_window_days,
                "labelled_rows": summary.rows,
                "positive_rows": summary.positive_rows,
                "keys": summary.keys,
                "converting_keys": summary.converting_keys,
                "positive_rate": round(summary.positive_rows / summary.rows, 5) if summary.rows else 0.0,
                "as_of_dates": len(span.labelled_as_of_dates),
                "first_as_of_date": str(min(span.labelled_as_of_dates, default="")),
                "last_as_of_date": str(max(span.labelled_as_of_dates, default="")),
                "history_days": span.history_days,
            },
            check_results=[_gate_result(gate) for gate in gates],
        )

    @dg.asset(
        key=MODEL_REGISTRY_KEY,
        partitions_def=partitions,
        deps=[TRAINING_SETS_KEY],
        group_name="training",
        kinds={"lightgbm", "duckdb"},
        pool="duckdb",
    )
    def model_registry(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        """The goal's model: walk-forward backtest of the model, logistic regression and the points
        baseline; final calibrated model registered in ml.model_registry, champion only when it
        beats the current one, else the challenger that scores in shadow (so is the model of the
        goal's challenger algorithm, when one is configured)."""
        goal = goals.get(context.partition_key)
        with duckdb.get_connection() as con:
            table, summary, sampling = budgeted_training_set(con, goal, settings.max_training_rows)
        context.log.info(
            f"{goal.name}: read {table.num_rows:,} of {summary.rows:,} labelled snapshots ({sampling})"
        )
        trained_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        training, registered = _train_and_register(context, duckdb, goal, table, trained_at)
        challenger_metadata = {}
        if goal.challenger.algorithm is not None:
            variant = dataclasses.replace(goal, algorithm=goal.challenger.algorithm)
            context.log.info(f"{goal.name}: training the challenger algorithm {variant.algorithm}")
            _, other = _train_and_register(context, duckdb, variant, table, trained_at, configured_goal=goal)
            challenger_metadata = {
                "challenger_algorithm_version": other.version,
                "challenger_algorithm_outcome": ("champion: " if other.champion else "")
                + other.champion_reason,
            }
        report = training.backtest
        model = report.model
        return dg.MaterializeResult(
            metadata={
                "goal": goal.name,
                "version": registered.version,
                "champion": registered.champion,
                "champion_reason": registered.champion_reason,
                "artifact": dg.MetadataValue.path(str(registered.artifact_path)),
                "algorithm": goal.algorithm,
                "training_rows": training.training_rows,
                "labelled_snapshots": summary.rows,
                "sampling": dg.MetadataValue.json(
                    {
                        "positive_share": round(sampling.positive_share, 4),
                        "negative_share": round(sampling.negative_share, 4),
                        "evaluation_key_share": round(sampling.evaluation_key_share, 4),
                        "evaluation_from": str(sampling.evaluation_from or "every date"),
                    }
                ),
                "data_window": f"{training.first_as_of_date} .. {training.last_as_of_date}",
                "class_weighting": report.class_weighting,
                "class_weighting_pr_auc": dg.MetadataValue.json(
                    {k: round(v, 4) for k, v in report.class_weighting_pr_auc.items()}
                ),
                "calibration": training.trained.calibrator.method,
                "score_source": registered.metrics["score_source"],
                "backtest_roc_auc": round(model.metrics["roc_auc"], 4),
                "backtest_pr_auc": round(model.metrics["pr_auc"], 4),
                "backtest_calibration_error": round(model.metrics["calibration_error"], 4),
                "backtest": dg.MetadataValue.md(backtest_markdown(report)),
                "folds": dg.MetadataValue.md(folds_markdown(report)),
                "calibration_table": dg.MetadataValue.md(calibration_markdown(model)),
                "lift_table": dg.MetadataValue.md(gains_markdown(model)),
                "importance": dg.MetadataValue.md(importance_markdown(training.importance)),
                "top_fields": ", ".join(f.field for f in training.importance[:5]),
                "positive_rate": round(float(np.mean(report.label)), 5),
                **challenger_metadata,
            }
        )

    def _train_and_register(
        context: dg.AssetExecutionContext,
        duckdb: DuckDBResource,
        goal: Goal,
        table: pa.Table,
        trained_at: datetime.datetime,
        configured_goal: Goal | None = None,
    ) -> tuple[GoalTraining, RegisteredModel]:
        training = train_goal(table, goal)
        person_goal = goals.rollup_person_goal()
        if goal.entity == "account" and person_goal is not None:
            context.log.info(f"{goal.name}: backtesting roll-ups of {person_goal.name} person scores")
            with duckdb.get_connection() as con:
                training.backtest.candidates.update(
                    rollup_backtest(con, person_goal, table, training.backtest)
                )
            adopt_best_source(training.trained, training.backtest, goal.algorithm, person_goal.name)
        with duckdb.get_connection() as con:
            registered = register_model(con, training, settings.models_dir, trained_at, configured_goal)
        return training, registered

    return dg.Definitions(assets=[training_sets, model_registry])


@dg.definitions
def defs() -> dg.Definitions:
    return training_definitions()
