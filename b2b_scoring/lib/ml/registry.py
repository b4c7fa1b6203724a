"""The model registry: each trained model of a goal as an artifact file plus a row of
`ml.model_registry` (goal, version, trained_at, data window, features, metrics, champion and
challenger flags), and every change of champion in `ml.model_promotions`.

A new version becomes champion only when it beats the current champion's backtest ROC-AUC, or
when there is no champion trained for the goal as it is defined now (its fingerprint changed), or
when the champion's artifact cannot score (missing, or pickled by an incompatible version).
A new version that does not win becomes the goal's challenger when the goal has none (one at a
time; otherwise it is kept in reserve): it scores in shadow until its realized performance earns
a promotion (`promote`) or loses the comparison (`retire_challenger`).
"""

from __future__ import annotations

import datetime
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from b2b_scoring.lib.goals import Goal
from b2b_scoring.lib.ml.goal_training import GoalTraining
from b2b_scoring.lib.ml.training import TrainedModel
from b2b_scoring.lib.sql import table_exists, transaction

REGISTRY_TABLE = "ml.model_registry"
PROMOTIONS_TABLE = "ml.model_promotions"
CHAMPION_METRIC = "roc_auc"
IN_SHADOW = ": challenger, scores in shadow"  # how a challenger's champion_reason ends
# What loading an artifact raises when it is missing, truncated or from an incompatible version.
ARTIFACT_ERRORS = (OSError, pickle.UnpicklingError, AttributeError, EOFError)


def ensure_registry(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ml")
    con.execute(
        f"""
        create table if not exists {REGISTRY_TABLE} (
            goal varchar not null,
            version integer not null,
            trained_at timestamp not null,
            algorithm varchar not null,
            goal_fingerprint varchar not null,
            data_start date not null,
            data_end date not null,
            training_rows bigint not null,
            features varchar[] not null,
            metrics json not null,
            artifact_path varchar not null,
            champion boolean not null,
            champion_reason varchar not null,
            challenger boolean not null default false,
            primary key (goal, version)
        )
        """
    )
    # Registries written before champion/challenger.
    con.execute(f"alter table {REGISTRY_TABLE} add column if not exists challenger boolean default false")
    con.execute(
        f"""
        create table if not exists {PROMOTIONS_TABLE} (
            goal varchar not null,
            version integer not null,
            previous_version integer,
            promoted_at timestamp not null,
            basis varchar not null,
            reason varchar not null
        )
        """
    )


@dataclass(frozen=True)
class RegisteredModel:
    goal: str
    version: int
    champion: bool
    challenger: bool
    champion_reason: str
    artifact_path: Path
    metrics: dict[str, Any]


def registry_metrics(training: GoalTraining) -> dict[str, Any]:
    """What the registry keeps of a training: every candidate's backtest metrics and intervals."""
    report = training.backtest
    return {
        "backtest": {
            name: {"metrics": result.metrics, "intervals": {k: list(v) for k, v in result.intervals.items()}}
            for name, result in report.candidates.items()
        },
        "folds": report.folds,
        "class_weighting": report.class_weighting,
        "calibration": training.trained.calibrator.method,
        "score_source": (
            f"rollup_{training.trained.rollup_source}"
            if training.trained.rollup_source
            else training.goal.algorithm
        ),
    }


def registry_exists(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, REGISTRY_TABLE)


def champion(con: duckdb.DuckDBPyConnection, goal: str) -> dict[str, Any] | None:
    """The goal's champion (None when the goal, or any goal, has not been trained yet)."""
    return _flagged_model(con, goal, "champion")


def challenger(con: duckdb.DuckDBPyConnection, goal: str) -> dict[str, Any] | None:
    """The goal's challenger, scoring in shadow (None when it has none)."""
    if not registry_exists(con) or "challenger" not in _registry_columns(con):
        return None
    return _flagged_model(con, goal, "challenger")


def _registry_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'ml' "
            "and table_name = 'model_registry' and database_name = current_database()"
        ).fetchall()
    }


def _flagged_model(con: duckdb.DuckDBPyConnection, goal: str, flag: str) -> dict[str, Any] | None:
    if not registry_exists(con):
        return None
    rows = con.execute(
        "select version, goal_fingerprint, algorithm, metrics, artifact_path, trained_at "
        f"from {REGISTRY_TABLE} where goal = ? and {flag}",
        [goal],
    ).fetchall()
    if not rows:
        return None
    version, fingerprint, algorithm, metrics, path, trained_at = rows[0]
    return {
        "version": version,
        "fingerprint": fingerprint,
        "algorithm": algorithm,
        "metrics": json.loads(metrics),
        "artifact_path": path,
        "trained_at": trained_at,
    }


def backtest_score(metrics: dict[str, Any]) -> float:
    """The backtest metric of what scores: the model, or the person-score roll-up that beat it."""
    source = metrics.get("score_source") or next(iter(metrics["backtest"]))
    return float(metrics["backtest"][source]["metrics"][CHAMPION_METRIC])


def register_model(
    con: duckdb.DuckDBPyConnection,
    training: GoalTraining,
    artifact_dir: Path,
    trained_at: datetime.datetime,
    configured_goal: Goal | None = None,
) -> RegisteredModel:
    """Write the artifact, add the registry row and move the champion flag when the new model
    wins (else the challenger flag), in one transaction. `configured_goal` is the goal as
    goals.yaml defines it when the training used another algorithm (its challenger algorithm)."""
    ensure_registry(con)
    goal = configured_goal or training.goal
    metrics = registry_metrics(training)
    new_score = backtest_score(metrics)
    con.execute("begin transaction")
    try:
        version = con.execute(
            f"select coalesce(max(version), 0) + 1 from {REGISTRY_TABLE} where goal = ?", [goal.name]
        ).fetchall()[0][0]
        current = champion(con, goal.name)
        if current is None:
            promoted, reason = True, "first model of the goal"
        elif current["fingerprint"] != goal.fingerprint():
            promoted, reason = True, f"goal definition changed since champion v{current['version']}"
        elif not _can_score(Path(current["artifact_path"])):
            promoted, reason = (
                True,
                f"champion v{current['version']} cannot score (artifact missing or too old)",
            )
        else:
            old_score = backtest_score(current["metrics"])
            promoted = new_score > old_score
            verdict = "beats" if promoted else "does not beat"
            reason = (
                f"backtest {CHAMPION_METRIC} {new_score:.4f} {verdict} champion v{current['version']} "
                f"({old_score:.4f})"
            )
        contender = None if promoted else challenger(con, goal.name)
        # Two losers of one training run (the goal's algorithm and its challenger algorithm, both
        # registered with the run's trained_at): the better backtest takes the challenger's slot.
        if (
            contender is not None
            and contender["trained_at"] == trained_at
            and new_score > backtest_score(contender["metrics"])
        ):
            con.execute(
                f"update {REGISTRY_TABLE} set challenger = false, champion_reason = replace(champion_reason, "
                "?, ?) where goal = ? and version = ?",
                [
                    IN_SHADOW,
                    f": kept in reserve, v{version} of the same training backtests better",
                    goal.name,
                    contender["version"],
                ],
            )
            contender = None
        is_challenger = not promoted and contender is None
        if not promoted:
            reason += (
                IN_SHADOW
                if is_challenger
                else f": kept in reserve while challenger v{contender['version']} is compared in shadow"
            )
        artifact = artifact_dir / goal.name / f"v{version}.pkl"
        artifact.parent.mkdir(parents=True, exist_ok=True)
        artifact.write_bytes(pickle.dumps(training.trained, protocol=5))
        if promoted:
            # A new champion starts without a challenger.
            con.execute(
                f"update {REGISTRY_TABLE} set champion = false, challenger = false where goal = ?",
                [goal.name],
            )
            _record_promotion(
                con, goal.name, version, current and current["version"], trained_at, "training", reason
            )
        con.execute(
            f"insert into {REGISTRY_TABLE} (goal, version, trained_at, algorithm, goal_fingerprint, "
            "data_start, data_end, training_rows, features, metrics, artifact_path, champion, "
            "champion_reason, challenger) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                goal.name,
                version,
                trained_at,
                training.goal.algorithm,
                goal.fingerprint(),
                training.first_as_of_date,
                training.last_as_of_date,
                training.training_rows,
                training.trained.encoder.names,
                json.dumps(metrics),
                str(artifact),
                promoted,
                reason,
                is_challenger,
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return RegisteredModel(goal.name, version, promoted, is_challenger, reason, artifact, metrics)


def promote(
    con: duckdb.DuckDBPyConnection, goal: str, version: int, basis: str, reason: str, at: datetime.datetime
) -> None:
    """Make `version` the goal's champion (it stops being a challenger), recorded with its reason."""
    with transaction(con):
        current = champion(con, goal)
        con.execute(
            f"update {REGISTRY_TABLE} set champion = (version = $version), "
            "challenger = challenger and version <> $version, "
            "champion_reason = CASE WHEN version = $version THEN $reason ELSE champion_reason END "
            "where goal = $goal",
            {"goal": goal, "version": version, "reason": reason},
        )
        _record_promotion(con, goal, version, current and current["version"], at, basis, reason)


def retire_challenger(con: duckdb.DuckDBPyConnection, goal: str, version: int, reason: str) -> None:
    """The challenger lost its comparison: it stops scoring in shadow (the next model that does not
    beat the champion takes its place)."""
    con.execute(
        f"update {REGISTRY_TABLE} set challenger = false, champion_reason = ? where goal = ? and version = ?",
        [reason, goal, version],
    )


def _record_promotion(
    con: duckdb.DuckDBPyConnection,
    goal: str,
    version: int,
    previous: int | None,
    at: datetime.datetime,
    basis: str,
    reason: str,
) -> None:
    con.execute(
        f"insert into {PROMOTIONS_TABLE} values (?, ?, ?, ?, ?, ?)",
        [goal, version, previous, at, basis, reason],
    )


def _can_score(artifact_path: Path) -> bool:
    try:
        return load_model(artifact_path).base_rate is not None
    except ARTIFACT_ERRORS:
        return False


def load_model(artifact_path: Path) -> TrainedModel:
    """A registered model back from its artifact (only artifacts this project wrote: pickle)."""
    return pickle.loads(Path(artifact_path).read_bytes())
