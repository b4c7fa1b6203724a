"""Root Definitions: everything under b2b_scoring/defs, autoloaded."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    # One process per run, steps one after another: DuckDB allows a single writer per file. The
    # "duckdb" pool (limit 1 in the shipped dagster.yaml) serializes steps across runs.
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=dg.in_process_executor),
    )
