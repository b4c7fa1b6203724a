"""Resources: the DuckDB warehouse, the world simulator and the raw data source."""

import datetime
from pathlib import Path
from typing import Literal

import dagster as dg
from dagster_duckdb import DuckDBResource

from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator import SimulationConfig

# Extensions the loaders need (parquet, icu, json) are built into the duckdb wheel; never try
# the network for others.
WAREHOUSE_CONNECTION_CONFIG = {"autoinstall_known_extensions": False}


class WarehouseResource(DuckDBResource):
    """The project's DuckDB file; creates its folder before the first connection."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)


class SimulatorResource(dg.ConfigurableResource):
    """Size, seed and dates of the simulated B2B world, and where its landing files are written."""

    persons: int
    accounts: int | None = None
    seed: int
    end_date: str
    history_days: int
    landing_dir: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "SimulatorResource":
        return cls(
            persons=settings.persons,
            accounts=settings.accounts,
            seed=settings.seed,
            end_date=settings.sim_end_date.isoformat(),
            history_days=settings.history_days,
            landing_dir=str(settings.simulator_landing_dir),
        )

    def simulation_config(self) -> SimulationConfig:
        return SimulationConfig(
            n_persons=self.persons,
            n_accounts=self.accounts,
            history_days=self.history_days,
            end_date=datetime.date.fromisoformat(self.end_date),
            seed=self.seed,
        )


class RawSourceResource(dg.ConfigurableResource):
    """Where raw assets read landing files: the simulator's output or the user's landing folder."""

    source: Literal["simulator", "landing"]
    landing_dir: str
    simulator_landing_dir: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "RawSourceResource":
        return cls(
            source=settings.source,
            landing_dir=str(settings.landing_dir),
            simulator_landing_dir=str(settings.simulator_landing_dir),
        )

    @property
    def input_dir(self) -> Path:
        return Path(self.simulator_landing_dir if self.source == "simulator" else self.landing_dir)


@dg.definitions
def resources() -> dg.Definitions:
    settings = Settings.from_env()
    return dg.Definitions(
        resources={
            "duckdb": WarehouseResource(
                database=str(settings.warehouse_path), connection_config=WAREHOUSE_CONNECTION_CONFIG
            ),
            "simulator": SimulatorResource.from_settings(settings),
            "raw_source": RawSourceResource.from_settings(settings),
        }
    )
