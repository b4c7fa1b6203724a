import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from b2b_scoring.cli import main
from b2b_scoring.lib.contract import CONTRACTS
from b2b_scoring.lib.ingestion import identity_mapping, ingest_table


def test_simulate_writes_landing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "landing"
    argv = ["simulate", "--persons", "300", "--days", "40", "--end-date", "2025-06-30", "--seed", "3"]
    assert main([*argv, "--out", str(out), "--format", "csv"]) == 0
    printed = capsys.readouterr().out
    assert "simulating 300 persons, 2025-05-22 .. 2025-06-30, seed 3" in printed
    for table in CONTRACTS:
        assert sorted(p.name for p in (out / table).iterdir()) == ["part-000.csv"]
        assert f"  {table} " in printed
    assert (out / "_truth" / "persons.parquet").is_file()
    with duckdb.connect() as con:
        assert ingest_table(con, out, identity_mapping().tables["persons"]).rows_loaded == 300


def test_bad_setting_is_a_clean_usage_error(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("B2B_SCORING_SEED", "lucky")
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--out", "unused"])
    assert exit_info.value.code == 2
    assert "B2B_SCORING_SEED='lucky' is not an integer" in capsys.readouterr().err


def test_a_warehouse_held_by_another_process_is_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("B2B_SCORING_DATA_DIR", str(tmp_path))
        with pytest.raises(SystemExit) as exit_info:
            main(["explain", "--person", "P-1"])
    finally:
        holder.kill()
        holder.wait()
    assert exit_info.value.code == 3
    assert "the warehouse is in use by another process" in capsys.readouterr().err


def test_demo_end_to_end(tmp_path: Path, isolated_env: Path) -> None:
    """`b2b-scoring demo` on a tiny world: every asset materialized, runs kept in DAGSTER_HOME."""
    env = {
        **os.environ,
        "B2B_SCORING_SIM_END_DATE": "2025-06-30",
        "B2B_SCORING_HISTORY_DAYS": "30",
        "B2B_SCORING_START_DATE": "2025-05-25",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "b2b_scoring.cli", "demo", "--persons", "400"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "daily assets in one run over 2025-05-25 .. 2025-06-30" in completed.stdout
    assert "daily features over 2025-06-03 .. 2025-06-30" in completed.stdout
    assert re.search(r"features\.person_feature_history +[1-9][\d,]* rows", completed.stdout)
    assert re.search(r"raw\.persons +400 rows", completed.stdout)
    # The job metrics ran last: the three schedules, and the runs before and including its own.
    assert re.search(r"monitoring\.schedule_ticks +3 rows", completed.stdout)
    assert re.search(r"monitoring\.job_runs +5 rows", completed.stdout)
    assert re.search(r"\d+ asset checks passed; no data check failed\.", completed.stdout)
    # 30 days are too few to train: each goal says so and is not trained.
    assert "goal not trained: lead_conversion: enough_history: 30 days of history" in completed.stdout
    assert "make dev" in completed.stdout and "http://127.0.0.1:3000" in completed.stdout

    home = isolated_env / "dagster_home"
    assert (home / "dagster.yaml").is_file()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        newest_first = ["job_metrics_job", "training_job", "training_job", "all_assets_job", "all_assets_job"]
        assert [run.job_name for run in runs] == newest_first
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in [runs[0], *runs[3:]])
        events = instance.fetch_materializations(dg.AssetKey(["raw", "experience_events"]), limit=100)
        assert len(events.records) == 37
        # Daily features: the last 28 days only; the weekly history covers the rest.
        features = instance.fetch_materializations(dg.AssetKey(["features", "person_features"]), limit=100)
        assert sorted(r.partition_key for r in features.records)[0] == "2025-06-03"
        assert len(features.records) == 28
