"""dbt models as Dagster assets: staging views, profile snapshots, seeds and the weekly feature
history in one unpartitioned step; the daily feature tables per daily partition. dbt tests become
asset checks."""

import os
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from b2b_scoring.defs.partitions import daily_partitions
from b2b_scoring.lib.dbt_args import (
    DAILY_PARTITIONED_SELECTOR,
    DBT_PROJECT_DIR,
    as_of_window,
    build_dbt_args,
    dbt_executable,
    history_weeks_per_run,
    manifest_is_stale,
)
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.weekly_history import catch_up_weekly_history, raw_persons


@cache
def dbt_project() -> DbtProject:
    """The dbt project with a current manifest: parsed when missing (a fresh clone) or older than
    a model, macro or config file, and on every load under `dagster dev`."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR)
    if manifest_is_stale(project.manifest_path) or os.getenv("DAGSTER_IS_DEV_CLI"):
        DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            ["parse", "--quiet"], target_path=project.target_path
        ).wait()
    return project


class B2BDbtTranslator(DagsterDbtTranslator):
    """Groups models by their folder (staging, intermediate, features); seeds and snapshots,
    which feed staging, join the staging group."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] in ("seed", "snapshot"):
            group = "staging"
        elif props["resource_type"] == "model":
            group = props["fqn"][1] if len(props["fqn"]) > 2 else "dbt"
        else:
            return spec
        return spec.replace_attributes(group_name=group).merge_attributes(kinds={"duckdb"})


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False


def build_dbt_assets(settings: Settings, partitioned: bool) -> dg.AssetsDefinition:
    """The dbt models selected by DAILY_PARTITIONED_SELECTOR (daily partitions, one run per
    backfill range) or all the others."""
    project = dbt_project()
    selection = (
        {"select": DAILY_PARTITIONED_SELECTOR} if partitioned else {"exclude": DAILY_PARTITIONED_SELECTOR}
    )

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=B2BDbtTranslator(),
        pool="duckdb",
        name="dbt_daily_features" if partitioned else "dbt_models",
        partitions_def=daily_partitions(settings) if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        **selection,
    )
    def _dbt_assets(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource, config: DbtBuildConfig
    ) -> Iterator[Any]:
        window = context.partition_time_window if partitioned else None
        weeks = None
        if not partitioned:
            weeks = settings.history_weeks_per_run
            if weeks is None:
                with duckdb.get_connection() as con:
                    weeks = history_weeks_per_run(raw_persons(con))
        args = build_dbt_args(
            settings,
            duckdb.database,
            full_refresh=config.full_refresh,
            as_of=as_of_window(window.start, window.end) if window else None,
            history_weeks_per_run=weeks,
        )
        yield from dbt.cli(args, context=context).stream()
        if weeks is not None:

            def run_history(history_args: list[str]) -> None:
                dbt.cli(history_args, manifest=project.manifest_path, raise_on_error=True).wait()

            catch_up_weekly_history(run_history, settings, Path(duckdb.database), weeks, context.log.info)

    return _dbt_assets


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    return dg.Definitions(
        assets=[build_dbt_assets(settings, partitioned=False), build_dbt_assets(settings, partitioned=True)],
        resources={"dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())},
    )
