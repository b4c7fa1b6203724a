from pathlib import Path

import yaml

from b2b_scoring.lib.dagster_home import ensure_dagster_home, instance_config_template


def test_template_disables_telemetry_and_serializes_pools() -> None:
    config = yaml.safe_load(instance_config_template().read_text())
    assert config["telemetry"] == {"enabled": False}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["concurrency"]["pools"]["granularity"] == "op"


def test_ensure_dagster_home_creates_once_and_keeps_user_edits(tmp_path: Path) -> None:
    home = tmp_path / "nested" / "dagster_home"
    assert ensure_dagster_home(home) == home
    config = home / "dagster.yaml"
    assert config.read_text() == instance_config_template().read_text()
    config.write_text("telemetry:\n  enabled: false\n# mine\n")
    ensure_dagster_home(home)
    assert config.read_text().endswith("# mine\n")
