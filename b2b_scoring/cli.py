"""The `b2b-scoring` command: demo, simulate, ingest, backtest, match, score, explain, dev."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from b2b_scoring.lib.dagster_home import ensure_dagster_home
from b2b_scoring.lib.settings import Settings, SettingsError

DEFAULT_PORT = "3000"
UI_HOST = "127.0.0.1"


class Stopwatch:
    """Prints stage lines prefixed with the seconds elapsed since the command started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f}s] {message}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    import duckdb

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except SettingsError as error:
        parser.exit(2, f"b2b-scoring: configuration error: {error}\n")
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        # DuckDB lets one process write a file: a Dagster step (or `dagster dev`) may hold it.
        parser.exit(
            3,
            "b2b-scoring: the warehouse is in use by another process (a Dagster run, or a step of "
            f"`dagster dev`); retry when it has finished.\n{error}\n",
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b2b-scoring", description="Predictive lead and account scoring on Dagster and DuckDB."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="Simulate a world and materialize every asset on it (runs show in the UI afterwards)."
    )
    demo.add_argument(
        "--persons", type=_positive_int, help="persons in the simulated world (B2B_SCORING_PERSONS)"
    )
    demo.set_defaults(command=demo_command)

    simulate = commands.add_parser("simulate", help="Write the landing files of a simulated world.")
    simulate.add_argument("--persons", type=_positive_int, help="number of persons (B2B_SCORING_PERSONS)")
    simulate.add_argument("--accounts", type=_positive_int, help="number of accounts (default: persons / 10)")
    simulate.add_argument("--seed", type=int, help="random seed (B2B_SCORING_SEED)")
    simulate.add_argument(
        "--end-date", type=datetime.date.fromisoformat, help="last simulated day, YYYY-MM-DD"
    )
    simulate.add_argument("--days", type=_positive_int, help="days of history (B2B_SCORING_HISTORY_DAYS)")
    simulate.add_argument("--out", type=Path, required=True, help="folder for <table>/part-*.<format> files")
    simulate.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    simulate.set_defaults(command=simulate_command)

    ingest = commands.add_parser(
        "ingest",
        help="Ingest a landing folder into the warehouse (raw, quarantine); print a JSON report per table.",
    )
    ingest.add_argument("--landing", type=Path, required=True, help="folder with <table>/*.csv|*.parquet")
    ingest.add_argument("--mapping", type=Path, help="mapping YAML (default: files already in the contract)")
    ingest.add_argument(
        "--dry-run", action="store_true", help="check and count only, in memory: the warehouse is not touched"
    )
    ingest.add_argument(
        "--quarantine-out",
        type=Path,
        help="also write the quarantined rows of each table to DIR/<table>.csv (spreadsheet-safe)",
    )
    ingest.set_defaults(command=ingest_command)

    backtest = commands.add_parser(
        "backtest",
        help="Stratified K-fold backtest of a flat CRM export (one row per lead); prints JSON metrics.",
    )
    backtest.add_argument("--flat-file", type=Path, required=True, help="CSV with one row per lead")
    backtest.add_argument("--outcome", required=True, help="outcome column (0/1, true/false, yes/no)")
    backtest.add_argument("--id", dest="id_column", help="identifier column (never a feature)")
    backtest.add_argument(
        "--post-contact",
        type=_column_list,
        default=[],
        help="comma-separated columns known only after sales contact (left out of training)",
    )
    backtest.add_argument(
        "--missing-values",
        type=_column_list,
        default=[],
        help="comma-separated extra missing markers, e.g. Select",
    )
    backtest.add_argument("--sep", help="field delimiter (default: detected)")
    backtest.add_argument(
        "--algorithm", choices=("lightgbm", "random_forest", "logistic_regression"), default="lightgbm"
    )
    backtest.add_argument("--folds", type=_positive_int, default=5)
    backtest.set_defaults(command=backtest_command)

    match = commands.add_parser(
        "match",
        help="Link persons without an account to their account (lead-to-account matching) from two CSV "
        "files with the contract's columns; writes one row per known unlinked person, prints a JSON summary.",
    )
    match.add_argument(
        "--persons", type=Path, required=True, help="persons CSV (person_key, account_key, email, ...)"
    )
    match.add_argument(
        "--accounts", type=Path, required=True, help="accounts CSV (account_key, account_name, ...)"
    )
    match.add_argument("--output", type=Path, required=True, help="CSV to write the matches to")
    match.add_argument(
        "--threshold",
        type=float,
        help="minimum confidence (default: B2B_SCORING_MATCH_THRESHOLD, else the lowest that keeps "
        "validation precision at B2B_SCORING_MATCH_MIN_PRECISION, 0.99 by default)",
    )
    match.set_defaults(command=match_command)

    score = commands.add_parser(
        "score",
        help="Score (or re-score: same rows, no duplicates) a range of days with the champion models; "
        "runs are recorded in DAGSTER_HOME and show in the UI.",
    )
    score.add_argument("--start", type=datetime.date.fromisoformat, required=True, help="first partition day")
    score.add_argument(
        "--end", type=datetime.date.fromisoformat, help="last partition day (default: --start)"
    )
    score.add_argument("--goal", action="append", help="a goal to score (repeatable; default: every goal)")
    score.set_defaults(command=score_command)

    explain = commands.add_parser(
        "explain", help="Print a person's or account's score history and the reasons behind its scores."
    )
    record = explain.add_mutually_exclusive_group(required=True)
    record.add_argument("--person", help="person_key")
    record.add_argument("--account", help="account_key")
    explain.add_argument("--goal", help="only this goal (default: every goal that scored the record)")
    explain.add_argument(
        "--date", type=datetime.date.fromisoformat, help="last score date shown (default: latest)"
    )
    explain.add_argument("--days", type=_positive_int, default=14, help="score dates of history (default 14)")
    explain.set_defaults(command=explain_command)

    acknowledge = commands.add_parser(
        "acknowledge-drift",
        help="Record that you have looked at a goal's score drift: its CRM export runs again until the next "
        "model version (which is checked afresh).",
    )
    acknowledge.add_argument("--goal", required=True)
    acknowledge.add_argument("--by", required=True, help="who acknowledges (name or e-mail)")
    acknowledge.add_argument("--note", default="", help="why the drift is acceptable")
    acknowledge.set_defaults(command=acknowledge_drift_command)

    dev = commands.add_parser("dev", help=f"Start the Dagster UI on http://{UI_HOST}:$PORT (default 3000).")
    dev.set_defaults(command=dev_command)
    return parser


def demo_command(args: argparse.Namespace) -> int:
    # The demo always runs on the simulated world; the overrides reach every Settings.from_env()
    # made while loading the definitions in this process.
    os.environ["B2B_SCORING_SOURCE"] = "simulator"
    if args.persons is not None:
        os.environ["B2B_SCORING_PERSONS"] = str(args.persons)
    settings = Settings.from_env()
    log = Stopwatch()
    log(f"dagster home {ensure_dagster_home(settings.dagster_home)}")
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)

    from b2b_scoring.demo import run_demo

    outcome = run_demo(settings, log)
    print()
    for schema, counts in outcome.row_counts.items():
        print(f"schema {schema} in {settings.warehouse_path}:")
        for table, rows in counts.items():
            print(f"  {schema}.{table:<28} {rows:>14,} rows")
    for model in outcome.models:
        print(f"model {model}")
    for goal in outcome.untrained_goals:
        print(f"goal not trained: {goal}")
    for line in outcome.matches:
        print(f"lead-to-account matching {line}")
    for line in outcome.scores:
        print(f"scores {line}")
    if outcome.scores:
        print(f"CRM exports of changed scores: {settings.data_dir / 'exports' / 'crm'}")
    if outcome.warned_checks:
        print(f"\nWarnings (not blocking): {', '.join(outcome.warned_checks)}")
    if outcome.failed_checks:
        print(f"\nFailed asset checks: {', '.join(outcome.failed_checks)}", file=sys.stderr)
        return 1
    print(f"\n{outcome.passed_checks} asset checks passed; no data check failed.")
    print(f"Run `make dev` and open http://{UI_HOST}:{DEFAULT_PORT} to browse the assets and runs.")
    return 0


def score_command(args: argparse.Namespace) -> int:
    import dagster as dg

    settings = Settings.from_env()
    goals = settings.goals()
    try:
        chosen = [goals.get(name) for name in args.goal] if args.goal else goals.dated_goals()
    except KeyError as error:
        print(f"b2b-scoring: {error.args[0]}", file=sys.stderr)
        return 2
    undated = [goal.name for goal in chosen if goal.conversion.flat_export is not None]
    if undated:
        print(
            f"b2b-scoring: goal(s) {', '.join(undated)} take their outcome from a flat export: no dates "
            "and no daily features to score; evaluate them with `b2b-scoring backtest --flat-file`",
            file=sys.stderr,
        )
        return 2
    os.environ["DAGSTER_HOME"] = str(ensure_dagster_home(settings.dagster_home))
    from b2b_scoring.definitions import defs
    from b2b_scoring.scoring_runs import partition_days, run_scoring

    days = partition_days(args.start, args.end or args.start)
    results = run_scoring(defs(), dg.DagsterInstance.get(), chosen, days, Stopwatch(), raise_on_error=False)
    failed = [r for r in results if not r.success]
    for result in failed:
        errors = [e.message for e in result.all_events if e.is_failure]
        print(
            f"failed: {result.dagster_run.tags.get('dagster/partition')}: {errors[-1] if errors else ''}",
            file=sys.stderr,
        )
    print(f"{len(results) - len(failed)} of {len(results)} scoring runs succeeded")
    return 1 if failed else 0


def acknowledge_drift_command(args: argparse.Namespace) -> int:
    import duckdb

    from b2b_scoring.lib.ml.registry import champion
    from b2b_scoring.lib.monitoring.drift import acknowledge

    settings = Settings.from_env()
    if not settings.warehouse_path.exists():
        print(f"b2b-scoring: no warehouse at {settings.warehouse_path} (run `make demo`)", file=sys.stderr)
        return 1
    with duckdb.connect(str(settings.warehouse_path)) as con:
        model = champion(con, args.goal)
        if model is None:
            print(f"b2b-scoring: goal {args.goal} has no champion model", file=sys.stderr)
            return 1
        acknowledge(con, args.goal, model["version"], args.by, args.note)
    print(f"drift of goal {args.goal}, model v{model['version']}, acknowledged by {args.by}")
    return 0


def explain_command(args: argparse.Namespace) -> int:
    import duckdb

    from b2b_scoring.lib.scoring.store import score_history

    settings = Settings.from_env()
    entity, key = ("person", args.person) if args.person else ("account", args.account)
    if not settings.warehouse_path.exists():
        print(f"b2b-scoring: no warehouse at {settings.warehouse_path} (run `make demo`)", file=sys.stderr)
        return 1
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        history = score_history(con, entity, key, args.goal, args.date, args.days)
    if not history:
        goal = f" for goal {args.goal}" if args.goal else ""
        print(f"b2b-scoring: no scores of {entity} {key}{goal} in {settings.warehouse_path}", file=sys.stderr)
        return 1
    for goal in dict.fromkeys(row["goal"] for row in history):
        rows = [row for row in history if row["goal"] == goal]
        latest = rows[0]
        print(f"{entity} {key} - goal {goal} (model v{latest['model_version']})")
        print("  score date   score  change  percentile  tier  probability")
        for row in rows:
            change = "" if row["score_change"] is None else f"{row['score_change']:+d}"
            print(
                f"  {row['score_date']}  {row['score']:>5}  {change:>6}  {row['percentile']:>10}  "
                f"{row['tier']:>4}  {row['probability']:11.4f}"
            )
        print(f"  on {latest['score_date']}: tier {latest['tier']} -> {latest['route']}")
        for factor in latest["influential_factors"]:
            print(f"    + {factor['reason']} ({factor['importance']})")
        for driver in latest["change_drivers"]:
            print(
                f"    {driver['direction']} since the day before: {driver['code']} "
                f"({driver['log_odds']:+.2f} log-odds)"
            )
    return 0


def simulate_command(args: argparse.Namespace) -> int:
    from b2b_scoring.lib.simulator import SimulationConfig, simulate_world, write_landing_files

    settings = Settings.from_env()
    try:
        config = SimulationConfig(
            n_persons=args.persons or settings.persons,
            n_accounts=args.accounts or settings.accounts,
            history_days=args.days or settings.history_days,
            end_date=args.end_date or settings.sim_end_date,
            seed=settings.seed if args.seed is None else args.seed,
        )
    except ValueError as error:
        raise SettingsError(str(error)) from None
    log = Stopwatch()
    log(
        f"simulating {config.n_persons:,} persons, {config.start_date} .. {config.end_date}, "
        f"seed {config.seed}"
    )
    world = simulate_world(config, progress=log)
    log(f"writing {args.format} landing files to {args.out}")
    written = write_landing_files(world, args.out, fmt=args.format)
    for name, paths in written.items():
        table = world.tables.get(name) or world.truth.get(name)
        rows = f"{table.num_rows:>12,} rows" if table is not None else ""
        size = sum(p.stat().st_size for p in paths)
        print(f"  {name:<20} {rows}  {len(paths):>3} file(s)  {size / 1e6:9.1f} MB  {paths[0].parent}")
    log("done")
    return 0


def ingest_command(args: argparse.Namespace) -> int:
    """Exit 0 when every readable file was handled, 1 when a file could not be read at all."""
    import duckdb

    from b2b_scoring.lib.ingestion import (
        MappingError,
        export_quarantine,
        identity_mapping,
        ingest_landing,
        load_mapping,
    )

    if not args.landing.is_dir():
        raise SettingsError(f"landing folder {args.landing} does not exist")
    try:
        mapping = load_mapping(args.mapping) if args.mapping else identity_mapping()
    except MappingError as error:
        raise SettingsError(str(error)) from None
    settings = Settings.from_env()
    database = ":memory:" if args.dry_run else str(settings.warehouse_path)
    if not args.dry_run:
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(database, config=settings.duckdb_config) as con:
        reports = ingest_landing(con, args.landing, mapping, dry_run=args.dry_run)
        if args.quarantine_out and not args.dry_run:
            for report in reports:
                if report.rows_quarantined:
                    export_quarantine(con, report.table, args.quarantine_out / f"{report.table}.csv")
    print(
        json.dumps(
            {
                "landing": str(args.landing),
                "mapping": mapping.origin,
                "warehouse": None if args.dry_run else str(settings.warehouse_path),
                "dry_run": args.dry_run,
                "tables": [report.to_dict() for report in reports],
            },
            indent=2,
        )
    )
    return 1 if any(report.errors for report in reports) else 0


def backtest_command(args: argparse.Namespace) -> int:
    from b2b_scoring.lib.ml.flat_file import FlatFileError, backtest_flat_file

    try:
        result = backtest_flat_file(
            args.flat_file,
            args.outcome,
            id_column=args.id_column,
            post_contact=args.post_contact,
            missing_values=args.missing_values,
            sep=args.sep,
            algorithm=args.algorithm,
            folds=args.folds,
        )
    except FlatFileError as error:
        raise SettingsError(str(error)) from None
    print(json.dumps(result, indent=2))
    return 0


def dev_command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    ensure_dagster_home(settings.dagster_home)
    workspace = Path.cwd() / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.is_file() else ["-m", "b2b_scoring.definitions"]
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster) if dagster.is_file() else "dagster",
        "dev",
        "-h",
        UI_HOST,
        "-p",
        os.environ.get("PORT") or DEFAULT_PORT,
        *target,
    ]
    print(f"DAGSTER_HOME={settings.dagster_home} {' '.join(command)}", flush=True)
    os.execvpe(command[0], command, {**os.environ, "DAGSTER_HOME": str(settings.dagster_home)})


def match_command(args: argparse.Namespace) -> int:
    """Exit 0 when the matches were written, 2 when the files cannot be matched (the message says why)."""
    import duckdb

    from b2b_scoring.lib.contract import CONTRACTS
    from b2b_scoring.lib.exports import export_csv
    from b2b_scoring.lib.matching import MatchConfig, MatchingError, match_persons
    from b2b_scoring.lib.sql import quote_identifier

    with duckdb.connect(":memory:") as con:
        for table, path in (("persons", args.persons), ("accounts", args.accounts)):
            if not path.is_file():
                raise SettingsError(f"{table} file {path} does not exist")
            con.execute(
                f"CREATE TABLE file_{table} AS SELECT * FROM read_csv(?, header = true, all_varchar = true)",
                [str(path)],
            )
            present = {row[0] for row in con.execute(f"DESCRIBE file_{table}").fetchall()}
            key = CONTRACTS[table].key[0]
            if key not in present:
                raise SettingsError(
                    f"{path}: required column {key!r} is missing (columns: {sorted(present)})"
                )
            columns = ", ".join(
                quote_identifier(column)
                if column in present
                else f"NULL::VARCHAR AS {quote_identifier(column)}"
                for column in CONTRACTS[table].column_names
            )
            con.execute(f"CREATE VIEW {table} AS SELECT {columns} FROM file_{table}")
        try:
            run = match_persons(
                con,
                "SELECT * FROM persons",
                "SELECT * FROM accounts",
                MatchConfig.from_settings(Settings.from_env(), args.threshold),
            )
        except MatchingError as error:
            print(f"b2b-scoring match: {error}", file=sys.stderr)
            return 2
        con.execute(
            """
            CREATE VIEW matches AS
            SELECT person_key, account_key, round(best_confidence, 6) AS confidence, status,
                   array_to_string(evidence, ';') AS evidence
            FROM match_decisions ORDER BY person_key
            """
        )
        written = export_csv(con, "matches", args.output)
    model = run.model
    print(
        json.dumps(
            {
                "output": str(args.output),
                "rows": written,
                "persons_by_class": run.persons_by_class,
                "decisions": run.decisions,
                "threshold": model.threshold,
                "threshold_source": model.threshold_source,
                "validation": model.validation,
            },
            indent=2,
        )
    )
    return 0


def _column_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _positive_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
