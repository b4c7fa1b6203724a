"""Daily lead-to-account matches, and a sensor that re-matches when raw persons change."""

import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.partitions import daily_partitions
from b2b_scoring.defs.raw.assets import raw_asset_key
from b2b_scoring.lib.matching import MatchConfig, MatchingError
from b2b_scoring.lib.matching.store import (
    RELATIONS_TABLE,
    MatchingSummary,
    create_matching_tables,
    run_matching,
)
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.sql import count_rows, markdown_table, preview_markdown

MATCHES_KEY = dg.AssetKey(RELATIONS_TABLE.split("."))
MATCHING_JOB = "matching_job"
VALIDATION_CHECK = "matcher_validation_precision"


def _records_markdown(records: list[dict[str, object]]) -> str:
    """Records with the same keys as a Markdown table, numbers with 4 decimals."""
    return markdown_table(
        list(records[0]) if records else [],
        [[f"{v:.4f}" if isinstance(v, float) else v for v in record.values()] for record in records],
    )


def _metadata(summary: MatchingSummary) -> dict[str, object]:
    model = summary.model
    return {
        "dagster/row_count": summary.relations_total,
        "match_date": summary.match_date.isoformat(),
        "full_rematch": summary.full_rematch,
        "persons_rematched": summary.persons_rematched,
        **{f"persons_{name}": count for name, count in summary.persons_by_class.items()},
        **{f"known_{status}": summary.decisions.get(status, 0) for status in ("matched", "ambiguous")},
        "known_unmatched": sum(v for k, v in summary.decisions.items() if k not in ("matched", "ambiguous")),
        "relations_added": summary.relations_added,
        "relations_removed": summary.relations_removed,
        "threshold": model.threshold,
        "threshold_source": model.threshold_source,
        "validation_precision": model.validation["precision"],
        "validation_recall": model.validation["recall"],
        "validation_f1": model.validation["f1"],
        "validation_persons": int(model.validation["persons"]),
        "training_persons": model.training_persons,
        "confidence_histogram": dg.MetadataValue.md(_records_markdown(summary.confidence_histogram)),
        "validation_precision_recall_curve": dg.MetadataValue.md(
            _records_markdown(model.precision_recall_curve)
        ),
        "evidence_weights": dg.MetadataValue.json({"intercept": model.intercept, **model.coefficients}),
    }


def build_matching_assets(
    settings: Settings,
) -> tuple[dg.AssetsDefinition, dg.SensorDefinition, dg.JobDefinition]:
    partitions_def = daily_partitions(settings)
    config = MatchConfig.from_settings(settings)

    @dg.asset(
        key=MATCHES_KEY,
        deps=[raw_asset_key("persons"), raw_asset_key("accounts")],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="matching",
        kinds={"duckdb", "scikitlearn"},
        pool="duckdb",
        check_specs=[
            dg.AssetCheckSpec(
                VALIDATION_CHECK,
                asset=MATCHES_KEY,
                description=f"Matches of held-out linked persons are right at least "
                f"{config.min_precision:.0%} of the time at the threshold in use.",
            )
        ],
        description="Known persons without a CRM account linked to their best account (only above the "
        "confidence threshold; ties reported as ambiguous), with confidence and evidence. A run matches "
        "as of its last day and re-matches only changed profiles, or everyone when accounts changed.",
    )
    def account_person_relations(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        match_date = context.partition_time_window.end.date() - datetime.timedelta(days=1)
        with duckdb.get_connection() as con:
            try:
                summary = run_matching(con, match_date, config)
            except MatchingError as error:
                # Too few linked persons to learn from is a state of the data, not a broken
                # pipeline: earlier matches stay, features and scores go on, the check says why.
                create_matching_tables(con)
                relations = count_rows(con, f"SELECT count(*) FROM {RELATIONS_TABLE}")
                yield dg.MaterializeResult(
                    metadata={"dagster/row_count": relations, "not_matched_because": str(error)}
                )
                yield dg.AssetCheckResult(
                    check_name=VALIDATION_CHECK,
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=str(error),
                )
                return
            preview = preview_markdown(con, *RELATIONS_TABLE.split("."))
        metadata = _metadata(summary) | {"preview": dg.MetadataValue.md(preview)}
        yield dg.MaterializeResult(metadata=metadata)
        precision = summary.model.validation["precision"]
        yield dg.AssetCheckResult(
            check_name=VALIDATION_CHECK,
            passed=bool(precision >= config.min_precision),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"precision": precision, "threshold": summary.model.threshold},
            description=f"validation precision {precision:.4f} at confidence "
            f">= {summary.model.threshold:.4f}",
        )

    matching_job = dg.define_asset_job(
        MATCHING_JOB,
        selection=[MATCHES_KEY],
        partitions_def=partitions_def,
        description="Re-match known persons without an account (changed profiles, or all when "
        "accounts changed).",
    )

    @dg.asset_sensor(
        asset_key=raw_asset_key("persons"),
        job=matching_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="When raw persons get a new profile snapshot outside a run that also matches, "
        "re-match the changed persons as of the latest day.",
    )
    def rematch_changed_persons(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
        planned = context.instance.get_records_for_run(
            run_id=asset_event.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        if any(record.asset_key == MATCHES_KEY for record in planned):
            return dg.SkipReason(f"run {asset_event.run_id} matches persons itself")
        latest = partitions_def.get_last_partition_key()
        return dg.RunRequest(run_key=f"{asset_event.run_id}-matching", partition_key=latest)

    return account_person_relations, rematch_changed_persons, matching_job


@dg.definitions
def defs() -> dg.Definitions:
    asset, sensor, job = build_matching_assets(Settings.from_env())
    return dg.Definitions(assets=[asset], sensors=[sensor], jobs=[job])
