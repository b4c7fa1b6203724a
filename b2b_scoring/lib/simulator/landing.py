"""Write a simulated world as landing files in the raw data contract."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from b2b_scoring.lib.simulator.world import World

TRUTH_FOLDER = "_truth"
ROWS_PER_FILE = 2_500_000


def write_landing_files(
    world: World, out_dir: Path, fmt: Literal["parquet", "csv"] = "parquet"
) -> dict[str, list[Path]]:
    """Write out_dir/<table>/part-NNN.<fmt> per contract table (large tables split in parts) and
    out_dir/_truth/<name>.parquet; replaces earlier files of the same tables."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be 'parquet' or 'csv', got {fmt!r}")
    out_dir = Path(out_dir)
    jobs: list[tuple[pa.Table, Path]] = []
    written: dict[str, list[Path]] = {}
    for name, table in world.tables.items():
        folder = out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("part-*.parquet"), *folder.glob("part-*.csv")]:
            old.unlink()
        parts = range(0, max(table.num_rows, 1), ROWS_PER_FILE)
        written[name] = [folder / f"part-{part:03d}.{fmt}" for part, _ in enumerate(parts)]
        jobs.extend(
            (table.slice(offset, ROWS_PER_FILE), path)
            for offset, path in zip(parts, written[name], strict=True)
        )
    truth_dir = out_dir / TRUTH_FOLDER
    truth_dir.mkdir(parents=True, exist_ok=True)
    for name, table in world.truth.items():
        written[f"{TRUTH_FOLDER}/{name}"] = [truth_dir / f"{name}.parquet"]
        jobs.append((table, truth_dir / f"{name}.parquet"))

    def write(job: tuple[pa.Table, Path]) -> None:
        table, path = job
        if path.suffix == ".csv":
            pa_csv.write_csv(_decoded(table), path)
        else:
            dictionary_columns = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
            pq.write_table(table, path, row_group_size=250_000, use_dictionary=dictionary_columns)

    # Arrow releases the GIL while encoding, so parts are written in parallel.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(write, jobs))
    return written


def _decoded(table: pa.Table) -> pa.Table:
    """Plain string columns instead of dictionary-encoded ones."""
    return pa.table(
        {
            field.name: column.cast(field.type.value_type) if pa.types.is_dictionary(field.type) else column
            for field, column in zip(table.schema, table.columns, strict=True)
        }
    )
