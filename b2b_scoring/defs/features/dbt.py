"""dbt models (staging views now; point-in-time features next) as Dagster assets; dbt tests
become asset checks."""

import os
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from b2b_scoring.lib.dbt_args import DBT_PROJECT_DIR, build_dbt_args, dbt_executable, manifest_is_stale


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
    """Groups dbt models by their folder (staging, features) and names them [schema, model]."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] != "model":
            return spec
        folder = props["fqn"][1] if len(props["fqn"]) > 2 else "dbt"
        return spec.replace_attributes(group_name=folder).merge_attributes(kinds={"duckdb"})


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False


@cache
def dbt_models() -> dg.AssetsDefinition:
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=B2BDbtTranslator(),
        pool="duckdb",
        name="dbt_models",
    )
    def _dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource, config: DbtBuildConfig
    ) -> Iterator[Any]:
        args = build_dbt_args(duckdb.database, full_refresh=config.full_refresh)
        yield from dbt.cli(args, context=context).stream()

    return _dbt_models


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[dbt_models()],
        resources={"dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())},
    )
