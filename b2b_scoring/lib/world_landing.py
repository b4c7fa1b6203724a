"""A simulated world as landing files, and its ground truth in the DuckDB `truth` schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from b2b_scoring.lib.ingestion import IngestionError
from b2b_scoring.lib.simulator import TRUTH_FOLDER, World, write_landing_files
from b2b_scoring.lib.sql import count_rows, quote_identifier, transaction

TRUTH_SCHEMA = "truth"


def replace_world_landing_files(world: World, landing_dir: Path) -> dict[str, list[Path]]:
    """Replace `landing_dir` with the world's Parquet landing files.

    Files are written to a sibling folder and swapped in at the end, so a failed write keeps the
    previous world's files whole instead of mixing two worlds.
    """
    landing_dir = Path(landing_dir)
    staging = landing_dir.with_name(landing_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    written = write_landing_files(world, staging, fmt="parquet")
    if landing_dir.exists():
        shutil.rmtree(landing_dir)
    staging.rename(landing_dir)
    return {
        name: [landing_dir / path.relative_to(staging) for path in paths] for name, paths in written.items()
    }


def load_truth_tables(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> dict[str, int]:
    """Replace `truth.<name>` with each `<landing_dir>/_truth/<name>.parquet`, in one transaction."""
    truth_dir = Path(landing_dir) / TRUTH_FOLDER
    paths = sorted(truth_dir.glob("*.parquet"))
    if not paths:
        raise IngestionError(truth_dir, "no ground-truth Parquet files")
    counts: dict[str, int] = {}
    with transaction(con):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {TRUTH_SCHEMA}")
        for path in paths:
            target = f"{TRUTH_SCHEMA}.{quote_identifier(path.stem)}"
            con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM read_parquet(?)", [str(path)])
            counts[path.stem] = count_rows(con, f"SELECT count(*) FROM {target}")
    return counts
