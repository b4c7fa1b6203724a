"""Scoring runs launched outside the UI (`make demo`, `b2b-scoring score`): one run of the goal's
scoring job per day, oldest first (each day's change is measured against the day before),
recorded in DAGSTER_HOME so they show in the UI like scheduled runs."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence

import dagster as dg

from b2b_scoring.defs.automation import SCORING_JOBS
from b2b_scoring.defs.scoring.assets import DATE, GOAL
from b2b_scoring.lib.goals import Goal

# Run config that shows INFO logs (progress of the steps) on the console.
INFO_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def partition_days(first: datetime.date, last: datetime.date) -> list[str]:
    """The daily partition keys first..last (inclusive)."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return [(first + datetime.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def run_scoring(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    goals: Sequence[Goal],
    days: Sequence[str],
    log: Callable[[str], None],
    raise_on_error: bool = True,
) -> list[dg.ExecuteInProcessResult]:
    results = []
    for goal in goals:
        log(f"scoring goal {goal.name} for partitions {days[0]} .. {days[-1]} (score dates the day after)")
        job = definitions.resolve_job_def(SCORING_JOBS[goal.entity])
        for day in days:
            results.append(
                job.execute_in_process(
                    instance=instance,
                    partition_key=dg.MultiPartitionKey({DATE: day, GOAL: goal.name}),
                    raise_on_error=raise_on_error,
                    run_config=INFO_LOGS,
                )
            )
    return results
