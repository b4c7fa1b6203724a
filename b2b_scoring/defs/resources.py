"""Resources: the DuckDB warehouse, the world simulator and the raw data source."""

import datetime
from pathlib import Path
from typing import Literal

import dagster as dg
from dagster_duckdb import DuckDBResource

from b2b_scoring.lib.ingestion import LoadMode, SourceMapping, identity_mapping, load_mapping
from b2b_scoring.lib.settings import Settings
from b2b_scoring.lib.simulator import SimulationConfig


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
    """Where raw assets read landing files (the simulator's output or the user's landing folder),
    the mapping to the contract, and how loads treat earlier rows."""

    source: Literal["simulator", "landing"]
    landing_dir: str
    simulator_landing_dir: str
    mapping_path: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "RawSourceResource":
        return cls(
            source=settings.source,
            landing_dir=str(settings.landing_dir),
            simulator_landing_dir=str(settings.simulator_landing_dir),
            mapping_path=str(settings.mapping_path) if settings.mapping_path else None,
        )

    @property
    def input_dir(self) -> Path:
        return Path(self.simulator_landing_dir if self.source == "simulator" else self.landing_dir)

    @property
    def load_mode(self) -> LoadMode:
        # A simulated world's files are the whole truth; a user's landing files add to what is loaded.
        return "replace" if self.source == "simulator" else "upsert"

    def mapping(self) -> SourceMapping:
        if self.source == "simulator" or self.mapping_path is None:
            return identity_mapping()
        return load_mapping(Path(self.mapping_path))


@dg.definitions
def resources() -> dg.Definitions:
    settings = Settings.from_env()
    return dg.Definitions(
        resources={
            "duckdb": WarehouseResource(
                database=str(settings.warehouse_path), connection_config=settings.duckdb_config
            ),
            "simulator": SimulatorResource.from_settings(settings),
            "raw_source": RawSourceResource.from_settings(settings),
        }
    )
