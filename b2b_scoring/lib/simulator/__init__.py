"""Seeded simulator of a B2B world with ground truth (no Dagster inside)."""

from b2b_scoring.lib.simulator.config import ProcessParameters, SimulationConfig
from b2b_scoring.lib.simulator.landing import TRUTH_FOLDER, write_landing_files
from b2b_scoring.lib.simulator.truth import (
    GOALS,
    LEAD_CONVERSION,
    OPPORTUNITY_CONTRACT,
    true_conversion_probability,
)
from b2b_scoring.lib.simulator.world import World, simulate_profiles, simulate_world

__all__ = [
    "GOALS",
    "LEAD_CONVERSION",
    "OPPORTUNITY_CONTRACT",
    "TRUTH_FOLDER",
    "ProcessParameters",
    "SimulationConfig",
    "World",
    "simulate_profiles",
    "simulate_world",
    "true_conversion_probability",
    "write_landing_files",
]
