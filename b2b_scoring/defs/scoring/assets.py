"""Daily scores per goal (partitions: day x goal) and the CRM export of what changed.

The day's partition P is scored from the features as of P + 1 (all data of P and before), with
the goal's champion model; its score_date is that as-of date. Person goals fill
scores.person_scores, account goals scores.account_scores."""

import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.partitions import daily_partitions
from b2b_scoring.defs.training.assets import MODEL_REGISTRY_KEY
from b2b_scoring.lib.goals import ENTITIES, Entity, GoalSet, ScoringPolicy
from b2b_scoring.lib.ml.registry import ARTIFACT_ERRORS, challenger, champion, load_model
from b2b_scoring.lib.ml.reports import score_distribution_markdown
from b2b_scoring.lib.ml.training import TrainedModel
from b2b_scoring.lib.scoring.rollups import rollup_persons, rollups_for
from b2b_scoring.lib.scoring.scores import score_records, shadow_scores
from b2b_scoring.lib.scoring.store import (
    DAILY_FEATURES,
    KEY_COLUMNS,
    export_changes,
    scoring_population,
    write_scores,
    write_shadow_scores,
)
from b2b_scoring.lib.settings import Settings

DATE, GOAL = "date", "goal"


def score_key(entity: Entity) -> dg.AssetKey:
    return dg.AssetKey(["scores", f"{entity}_scores"])


def export_key(entity: Entity) -> dg.AssetKey:
    return dg.AssetKey(["exports", f"crm_{entity}_scores"])


def drift_key(entity: Entity) -> dg.AssetKey:
    """The monitoring asset whose blocking check holds back the exports of drifted scores."""
    return dg.AssetKey(["monitoring", f"{entity}_score_drift"])


def scoring_partitions(settings: Settings, entity: Entity) -> dg.MultiPartitionsDefinition | None:
    names = [goal.name for goal in settings.goals().dated_goals() if goal.entity == entity]
    if not names:
        return None
    return dg.MultiPartitionsDefinition(
        {DATE: daily_partitions(settings), GOAL: dg.StaticPartitionsDefinition(names)}
    )


def score_date_of(context: dg.AssetExecutionContext) -> tuple[str, datetime.date]:
    key = context.partition_key
    assert isinstance(key, dg.MultiPartitionKey)
    day = datetime.date.fromisoformat(key.keys_by_dimension[DATE])
    return key.keys_by_dimension[GOAL], day + datetime.timedelta(days=1)


def champion_or_failure(con: duckdb.DuckDBPyConnection, goal: str) -> dict[str, Any]:
    """The goal's champion model; a Failure that says what to run when it has none."""
    model = champion(con, goal)
    if model is None:
        raise dg.Failure(
            f"goal {goal} has no trained model yet: run training_job for it first "
            "(its gates say why a goal could not be trained)"
        )
    return model


def export_metadata(rows: int, csv_path: Path, parquet_path: Path) -> dict[str, Any]:
    """What an export asset shows: rows written and the two files."""
    return {
        "dagster/row_count": rows,
        "csv": dg.MetadataValue.path(str(csv_path)),
        "parquet": dg.MetadataValue.path(str(parquet_path)),
    }


def _entity_assets(settings: Settings, entity: Entity) -> list[dg.AssetsDefinition]:
    partitions = scoring_partitions(settings, entity)
    if partitions is None:
        return []
    goals = settings.goals()
    features_key = dg.AssetKey(DAILY_FEATURES[entity].split("."))

    @dg.asset(
        key=score_key(entity),
        partitions_def=partitions,
        deps=[
            *(
                dg.AssetDep(key, partition_mapping=dg.MultiToSingleDimensionPartitionMapping(DATE))
                for key in dict.fromkeys([features_key, dg.AssetKey(DAILY_FEATURES["person"].split("."))])
            ),
            # The registry is partitioned by all goals, this asset by the goals of one entity,
            # which Dagster cannot map dimension to dimension: a score depends on the registry.
            dg.AssetDep(MODEL_REGISTRY_KEY, partition_mapping=dg.AllPartitionMapping()),
        ],
        group_name="scoring",
        kinds={"lightgbm", "duckdb"},
        pool="duckdb",
        description=f"Daily {entity} scores of each {entity} goal with the champion model: probability, "
        "score 0-100, percentile, tier and queue, influential factors, change since the previous score; "
        "the goal's challenger, if any, scores the same records in shadow (scores.shadow_scores).",
    )
    def scores(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        goal_name, score_date = score_date_of(context)
        goal = goals.get(goal_name)
        with duckdb.get_connection() as con:
            model = champion_or_failure(con, goal.name)
            today = scoring_population(con, goal, score_date)
            before = scoring_population(con, goal, score_date - datetime.timedelta(days=1))
        if today.num_rows == 0:
            raise dg.Failure(
                f"no {DAILY_FEATURES[entity]} rows as of {score_date}: materialize the features of "
                f"partition {score_date - datetime.timedelta(days=1)} first"
            )
        trained = load_model(model["artifact_path"])
        rollups = None
        if entity == "account":
            rollups = _person_rollups(duckdb, goals, trained, today, score_date)
        scored = score_records(trained, today, KEY_COLUMNS[entity], goal.scoring, before, rollups)
        with duckdb.get_connection() as con:
            written = write_scores(con, entity, goal.name, score_date, model["version"], scored)
            contender = challenger(con, goal.name)
        shadow = (
            None
            if contender is None
            else _shadow(context, contender, today, KEY_COLUMNS[entity], goal.scoring, rollups)
        )
        with duckdb.get_connection() as con:
            write_shadow_scores(
                con, entity, goal.name, score_date, contender and contender["version"], shadow
            )
        return dg.MaterializeResult(
            metadata={
                "goal": goal.name,
                "score_date": str(score_date),
                "model_version": model["version"],
                "dagster/row_count": written.rows,
                "tier_counts": dg.MetadataValue.json(written.tiers),
                "score_distribution": dg.MetadataValue.md(
                    score_distribution_markdown(scored.column("score").to_numpy())
                ),
                "changed_or_new": written.changed,
                "exploration_slice": int(pc.sum(scored["exploration"]).as_py() or 0),
                "previous_score_date": str(written.previous_score_date or ""),
                **_shadow_metadata(contender, shadow, scored),
            }
        )

    @dg.asset(
        key=export_key(entity),
        partitions_def=partitions,
        deps=[score_key(entity), drift_key(entity)],
        group_name="scoring",
        kinds={"duckdb", "csv", "parquet"},
        pool="duckdb",
        description=f"The day's {entity} scores whose score or tier changed, in CRM field names "
        "(CSV, spreadsheet-safe, and Parquet under <data dir>/exports/crm); held back while the "
        "scores drift (blocking check of the drift asset).",
    )
    def crm_export(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        goal_name, score_date = score_date_of(context)
        with duckdb.get_connection() as con:
            rows, csv_path, parquet_path = export_changes(
                con, entity, goal_name, score_date, settings.data_dir / "exports" / "crm"
            )
        return dg.MaterializeResult(metadata=export_metadata(rows, csv_path, parquet_path))

    return [scores, crm_export]


def _shadow(
    context: dg.AssetExecutionContext,
    contender: dict[str, Any],
    features: pa.Table,
    key_column: str,
    policy: ScoringPolicy,
    rollups: dict[str, np.ndarray] | None,
) -> pa.Table | None:
    """The challenger's shadow scores of the day's records; None, with a warning, when it cannot
    score today (the champion's scores are written already and stand)."""
    try:
        model = load_model(contender["artifact_path"])
    except ARTIFACT_ERRORS as error:
        context.log.warning(f"challenger v{contender['version']} cannot be loaded ({error}): no shadow")
        return None
    if model.rollup_source is not None and rollups is None:
        context.log.warning(
            f"challenger v{contender['version']} scores with a roll-up of person scores, which are "
            "missing today: no shadow scores"
        )
        return None
    return shadow_scores(model, features, key_column, policy, rollups)


def _shadow_metadata(
    contender: dict[str, Any] | None, shadow: pa.Table | None, scored: pa.Table
) -> dict[str, Any]:
    """How the challenger, scoring in shadow, would have scored the same records."""
    if contender is None or shadow is None:
        return {"challenger": "none" if contender is None else f"v{contender['version']} (not scored)"}
    same_tier = pc.equal(shadow["tier"], scored["tier"]).to_numpy(zero_copy_only=False)
    return {
        "challenger": f"v{contender['version']} ({contender['algorithm']}), scores in shadow",
        "shadow_rows": shadow.num_rows,
        "shadow_tier_agreement": round(float(same_tier.mean()), 4) if len(same_tier) else 0.0,
        "shadow_tier_a": int(pc.sum(pc.equal(shadow["tier"], "A")).as_py() or 0),
    }


def _person_rollups(
    duckdb: DuckDBResource,
    goals: GoalSet,
    trained: TrainedModel,
    accounts: pa.Table,
    score_date: datetime.date,
) -> dict[str, np.ndarray] | None:
    """The roll-ups of the day's person probabilities (the person goal's champion) per account;
    None without a person goal or its model, unless the account model scores with a roll-up."""
    name = trained.rollup_person_goal or getattr(goals.rollup_person_goal(), "name", None)
    if name is None:
        return None
    person_goal = goals.get(name)
    with duckdb.get_connection() as con:
        person_model = champion(con, name)
        persons = scoring_population(con, person_goal, score_date) if person_model else None
    if person_model is None or persons is None or persons.num_rows == 0:
        if trained.rollup_source is not None:
            raise dg.Failure(
                f"the account model scores with the {trained.rollup_source} roll-up of {name}, but {name} "
                f"has {'no model' if person_model is None else f'no person features as of {score_date}'}"
            )
        return None
    probability = load_model(person_model["artifact_path"]).probability(persons)
    return rollups_for(accounts["account_key"], rollup_persons(persons["account_key"], probability))


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    return dg.Definitions(assets=[a for entity in ENTITIES for a in _entity_assets(settings, entity)])
