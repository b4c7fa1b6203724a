"""The simulated world and the raw contract tables in DuckDB, with their quality checks."""

import datetime
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.partitions import daily_partitions
from b2b_scoring.defs.resources import RawSourceResource, SimulatorResource
from b2b_scoring.lib.contract import CONTRACTS, TableContract
from b2b_scoring.lib.ingestion import (
    QUARANTINE_SCHEMA,
    RAW_SCHEMA,
    FlatExportMapping,
    TableReport,
    ensure_raw_table,
    ingest_flat_export,
    ingest_table,
)
from b2b_scoring.lib.quality import CHECKS_BY_TABLE, Severity, raw_table_checks
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator import simulate_world
from b2b_scoring.lib.sql import count_rows, preview_markdown
from b2b_scoring.lib.world_landing import load_truth_tables, replace_world_landing_files
from b2b_scoring.lib.world_summary import summarize_contract_tables

SIMULATED_WORLD_KEY = dg.AssetKey(["simulator", "b2b_world"])
# Event tables loaded by daily partition; every other contract table is a snapshot replaced whole.
DAILY_TABLES = ("experience_events",)
SNAPSHOT_TABLES = tuple(name for name in CONTRACTS if name not in DAILY_TABLES)


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, table])


@dg.asset(key=SIMULATED_WORLD_KEY, group_name="source", kinds={"python", "duckdb"}, pool="duckdb")
def b2b_world(
    context: dg.AssetExecutionContext, simulator: SimulatorResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Seeded simulated B2B world: landing files of every contract table, ground truth in schema `truth`."""
    config = simulator.simulation_config()
    started = time.perf_counter()
    world = simulate_world(config, progress=context.log.info)
    simulated = time.perf_counter()
    landing_dir = Path(simulator.landing_dir)
    files = replace_world_landing_files(world, landing_dir)
    written = time.perf_counter()
    summary = summarize_contract_tables(world.tables)
    with duckdb.get_connection() as con:
        truth_counts = load_truth_tables(con, landing_dir)
    return dg.MaterializeResult(
        metadata={
            "first_day": config.start_date.isoformat(),
            "last_day": config.end_date.isoformat(),
            "seed": config.seed,
            "landing_dir": dg.MetadataValue.path(str(landing_dir)),
            "landing_files": sum(len(paths) for paths in files.values()),
            **{f"rows/{name}": count for name, count in summary.row_counts.items()},
            **{f"truth_rows/{name}": count for name, count in truth_counts.items()},
            "lead_conversion_rate": summary.lead_conversion_rate,
            "unlinked_person_share": summary.unlinked_person_share,
            "won_opportunity_rate": summary.won_opportunity_rate,
            "first_event_at": summary.first_event_at or "",
            "last_event_at": summary.last_event_at or "",
            "simulate_seconds": round(simulated - started, 2),
            "write_seconds": round(written - simulated, 2),
        }
    )


def _definition_metadata(contract: TableContract) -> dict[str, object]:
    return {
        "dagster/table_name": f"{RAW_SCHEMA}.{contract.name}",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=column.name,
                    type=column.duckdb_type,
                    constraints=dg.TableColumnConstraints(nullable=not column.required),
                )
                for column in contract.columns
            ]
        ),
        "key": ", ".join(contract.key),
    }


def _ingestion_metadata(
    con: duckdb.DuckDBPyConnection, raw_source: RawSourceResource, folder: str, report: TableReport
) -> dict[str, object]:
    """What a data engineer checks after a load: counts that reconcile, why rows were
    quarantined, unknown values that were kept, and a sample of the quarantined rows."""
    metadata: dict[str, object] = {
        "source": raw_source.source,
        "landing_folder": dg.MetadataValue.path(str(raw_source.input_dir / folder)),
        "landing_files": len(report.files),
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "exact_duplicates_dropped": report.exact_duplicates_dropped,
        "rows_skipped_by_mapping": report.rows_skipped,
        "counts_reconcile": report.reconciles,
        "quarantined_by_reason": dg.MetadataValue.json(report.quarantined_by_reason),
        "unknown_values_kept": dg.MetadataValue.json(report.warnings),
    }
    if report.rows_quarantined:
        metadata["quarantine_sample"] = dg.MetadataValue.md(
            preview_markdown(con, QUARANTINE_SCHEMA, report.table)
        )
    return metadata


def ingest_raw_table(
    con: duckdb.DuckDBPyConnection,
    raw_source: RawSourceResource,
    table: str,
    window: tuple[datetime.datetime, datetime.datetime] | None = None,
) -> dict[str, object]:
    """Ingest one contract table from the configured landing folder; a table the source does not
    deliver stays an empty contract table."""
    table_mapping = raw_source.mapping().tables.get(table)
    if table_mapping is None or not (raw_source.input_dir / table_mapping.folder).is_dir():
        ensure_raw_table(con, CONTRACTS[table])
        folder = table_mapping.folder if table_mapping else table
        return {"source": raw_source.source, "landing_folder": f"no folder {raw_source.input_dir / folder}"}
    report = ingest_table(con, raw_source.input_dir, table_mapping, mode=raw_source.load_mode, window=window)
    return _ingestion_metadata(con, raw_source, table_mapping.folder, report)


def build_raw_asset(
    table: str, upstream: Sequence[dg.AssetKey], partitions_def: dg.PartitionsDefinition | None = None
) -> dg.AssetsDefinition:
    """raw.<table> from the landing files, checked row by row. Snapshot tables load whole; a
    daily-partitioned table replaces its partition window (a single run covers any range)."""
    contract = CONTRACTS[table]
    how = (
        "by UTC day: a run replaces its partition window with the checked rows of the landing files"
        if partitions_def
        else "from the landing files, checked row by row"
    )
    partitioning = (
        {
            "partitions_def": partitions_def,
            "backfill_policy": dg.BackfillPolicy.single_run(),
            "metadata": {**_definition_metadata(contract), "partition_expr": contract.time_column},
        }
        if partitions_def
        else {"metadata": _definition_metadata(contract)}
    )

    @dg.asset(
        key=raw_asset_key(table),
        group_name="raw",
        kinds={"duckdb"},
        pool="duckdb",
        deps=upstream,
        description=f"Raw {table} {how} (bad rows to quarantine.{table}). {contract.description}",
        **partitioning,
    )
    def _raw(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, raw_source: RawSourceResource
    ) -> dg.MaterializeResult:
        window = None
        if partitions_def:
            # partition_time_window covers a single day and a single-run backfill range alike.
            window = (context.partition_time_window.start, context.partition_time_window.end)
        with duckdb.get_connection() as con:
            metadata = ingest_raw_table(con, raw_source, table, window)
            metadata["dagster/row_count"] = count_rows(con, f"SELECT count(*) FROM {RAW_SCHEMA}.{table}")
            metadata["preview"] = dg.MetadataValue.md(preview_markdown(con, RAW_SCHEMA, table))
        if window is not None:
            metadata |= {
                "window_start": window[0].isoformat(),
                "window_end": window[1].isoformat(),
                "partitions": len(context.partition_keys),
            }
            if len(context.partition_keys) == 1 and "rows_loaded" in metadata:
                metadata["dagster/partition_row_count"] = metadata["rows_loaded"]
        return dg.MaterializeResult(metadata=metadata)

    return _raw


def build_flat_export_asset(export: FlatExportMapping) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(export.name),
        group_name="raw",
        kinds={"duckdb"},
        pool="duckdb",
        description=(
            f"Flat CRM export {export.name!r}: one row per lead (key {export.key!r}, outcome "
            f"{export.outcome!r}), all columns as text; raw.flat_export_columns marks the columns "
            "known only after sales contact."
        ),
    )
    def _flat_export(duckdb: DuckDBResource, raw_source: RawSourceResource) -> dg.MaterializeResult:
        with duckdb.get_connection() as con:
            report = ingest_flat_export(con, raw_source.input_dir, export)
            metadata = _ingestion_metadata(con, raw_source, export.folder, report)
            metadata["dagster/row_count"] = report.rows_loaded
            metadata["known_after_contact"] = dg.MetadataValue.json(list(export.known_after_contact))
        return dg.MaterializeResult(metadata=metadata)

    return _flat_export


def build_quality_checks(table: str) -> dg.AssetChecksDefinition:
    """The Great Expectations checks of one raw table, one Dagster check per check name: ERROR
    failures block downstream assets, WARN failures (unknown values kept) only warn."""
    key = raw_asset_key(table)
    specs = [
        dg.AssetCheckSpec(name, asset=key, blocking=True, description=f"[{severity}] {description}")
        for name, severity, description in CHECKS_BY_TABLE[table]
    ]

    @dg.multi_asset_check(name=f"{table}_quality_checks", specs=specs, pool="duckdb")
    def _checks(duckdb: DuckDBResource):
        for result in raw_table_checks(Path(duckdb.database), table):
            yield dg.AssetCheckResult(
                check_name=result.check_name,
                asset_key=key,
                passed=result.passed,
                severity=dg.AssetCheckSeverity.ERROR
                if result.severity == Severity.ERROR
                else dg.AssetCheckSeverity.WARN,
                description=result.description,
                metadata={
                    "unexpected_count": result.unexpected_count,
                    "element_count": result.element_count,
                    "failing_sample": dg.MetadataValue.json(result.sample),
                },
            )

    return _checks


@dg.definitions
def raw_definitions() -> dg.Definitions:
    settings = Settings.from_env()
    partitions_def = daily_partitions(settings)
    # Lineage follows the configured source: with your own landing files the simulated world is
    # still available, but raw tables do not come from it.
    upstream = [SIMULATED_WORLD_KEY] if settings.source == "simulator" else []
    flat_exports = RawSourceResource.from_settings(settings).mapping().flat_exports.values()
    return dg.Definitions(
        assets=[
            b2b_world,
            *(build_raw_asset(table, upstream) for table in SNAPSHOT_TABLES),
            *(build_raw_asset(table, upstream, partitions_def) for table in DAILY_TABLES),
            *(build_flat_export_asset(export) for export in flat_exports),
        ],
        asset_checks=[build_quality_checks(table) for table in CONTRACTS],
    )
