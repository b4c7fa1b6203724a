"""Where the dbt project is and how Dagster invokes it: argument builders (pure, unit-tested),
the dbt executable, manifest staleness and a runner for tests and benchmarks."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

from b2b_scoring.lib.settings import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# dbt selector of the models Dagster runs per daily partition (the daily feature tables).
DAILY_PARTITIONED_SELECTOR = "tag:daily_partitioned"


def dbt_executable() -> str:
    """The dbt installed next to this Python (the project's venv), even when the venv is not
    activated; otherwise whatever `dbt` is on PATH."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def manifest_is_stale(manifest_path: Path, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """True when the manifest is missing or older than any file dbt parses."""
    if not manifest_path.exists():
        return True
    built = manifest_path.stat().st_mtime
    sources = [
        p
        for folder in ("models", "macros", "tests", "seeds", "snapshots")
        for p in (project_dir / folder).rglob("*")
        if p.is_file()
    ]
    sources.append(project_dir / "dbt_project.yml")
    return any(p.stat().st_mtime > built for p in sources)


def run_dbt_outside_dagster(args: list[str], target_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run dbt as Dagster would, but by hand (tests, benchmarks): own target and log folder, so
    concurrent invocations do not share dbt's files; output captured."""
    return subprocess.run(
        [dbt_executable(), *args, "--target-path", str(target_dir), "--log-path", str(target_dir / "logs")],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )


def as_of_window(partition_start: datetime.datetime, partition_end: datetime.datetime) -> tuple[str, str]:
    """Half-open range of as-of dates for a range of daily partitions [start, end): the features
    of day P are as of the end of P, i.e. as-of date P + 1, using all data of P and before."""
    one_day = datetime.timedelta(days=1)
    return (partition_start.date() + one_day).isoformat(), (partition_end.date() + one_day).isoformat()


def build_dbt_args(
    settings: Settings,
    warehouse_path: Path,
    full_refresh: bool = False,
    as_of: tuple[str, str] | None = None,
    history_weeks_per_run: int | None = None,
) -> list[str]:
    """`dbt build` arguments. The warehouse path is passed absolute because dbt runs with the
    dbt project as working directory; `as_of` is the as-of window of partitioned models;
    `history_weeks_per_run` caps the Mondays one run adds to the weekly history."""
    args = ["build", "--vars", _vars(settings, warehouse_path, as_of, history_weeks_per_run)]
    return [*args, "--full-refresh"] if full_refresh else args


def _vars(
    settings: Settings,
    warehouse_path: Path,
    as_of: tuple[str, str] | None = None,
    history_weeks_per_run: int | None = None,
) -> str:
    dbt_vars: dict[str, str | int] = {
        "warehouse_path": str(Path(warehouse_path).resolve()),
        "duckdb_memory_limit": settings.duckdb_memory_limit,
        "engagement_half_life_days": settings.engagement_half_life_days,
    }
    if as_of is not None:
        dbt_vars["as_of_start"], dbt_vars["as_of_end"] = as_of
    if history_weeks_per_run is not None:
        dbt_vars["history_weeks_per_run"] = history_weeks_per_run
    return json.dumps(dbt_vars, sort_keys=True)


# The weekly history is built in runs of a bounded number of Mondays: one statement over two
# years of a million persons spills tens of GB of temporary files. A run adds about this many
# person rows (persons x Mondays) at most.
HISTORY_PERSON_ROWS_PER_RUN = 5_000_000
HISTORY_MODELS = ("person_activity_history", "account_feature_history", "person_feature_history")


def history_weeks_per_run(persons: int) -> int:
    """Mondays per run of the weekly history for a population of `persons`: 4 to 520."""
    return min(520, max(4, HISTORY_PERSON_ROWS_PER_RUN // max(persons, 1)))


def history_catch_up_args(settings: Settings, warehouse_path: Path, weeks_per_run: int) -> list[str]:
    """`dbt run` of the weekly history models alone, adding up to `weeks_per_run` Mondays."""
    return [
        "run",
        "--select",
        " ".join(HISTORY_MODELS),
        "--vars",
        _vars(settings, warehouse_path, history_weeks_per_run=weeks_per_run),
    ]
