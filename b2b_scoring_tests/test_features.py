"""Point-in-time feature tables built by dbt through Dagster on the tiny simulated world."""

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from b2b_scoring.defs.automation import DAILY_PIPELINE_JOB
from b2b_scoring.lib.dagster_home import ensure_dagster_home
from b2b_scoring.lib.dbt_args import (
    DBT_PROJECT_DIR,
    HISTORY_MODELS,
    build_dbt_args,
    history_weeks_per_run,
    run_dbt_outside_dagster,
)
from b2b_scoring.lib.settings import Settings
from b2b_scoring_tests.conftest import TINY_END_DATE, tiny_world_env, tiny_world_settings

PROJECT_ROOT = DBT_PROJECT_DIR.parent

AS_OF = datetime.date(2025, 6, 16)  # a Monday: in the daily tables and in the weekly history
WINDOWS = (7, 30, 90)


@pytest.fixture
def built(tiny_pipeline) -> Settings:
    """Raw tables, staging and every feature table over all partitions of the tiny world."""
    settings, result = tiny_pipeline
    assert result.success
    assert not [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    return settings


def run_dbt(
    settings: Settings, warehouse: Path, as_of: tuple[datetime.date, datetime.date], tmp: Path
) -> None:
    """`dbt build` with the feature tables for one as-of range, outside Dagster."""
    args = build_dbt_args(settings, warehouse, as_of=(as_of[0].isoformat(), as_of[1].isoformat()))
    completed = run_dbt_outside_dagster(args, tmp / "target")
    assert completed.returncode == 0, completed.stdout[-3000:]


def rows(warehouse: Path, table: str, as_of: datetime.date) -> dict[str, dict]:
    """The table's rows of one as-of date, by key (the first column), as column -> value."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        result = con.execute(f"select * from features.{table} where as_of_date = ?", [as_of])
        names = [d[0] for d in result.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in result.fetchall()}


def differences(actual: dict[str, dict], expected: dict[str, dict]) -> dict[str, set[str]]:
    """Keys whose rows differ, with the differing columns (missing or extra keys: '<row>')."""
    return {
        key: {c for c in expected[key] if actual[key][c] != expected[key][c]}
        if key in actual and key in expected
        else {"<row>"}
        for key in actual.keys() | expected.keys()
        if actual.get(key) != expected.get(key)
    }


def copy_warehouse(settings: Settings, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(settings.warehouse_path, copy)
    return copy


def test_daily_tables_have_one_row_per_existing_key_and_as_of_date(built: Settings) -> None:
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        per_date = con.execute(
            "select as_of_date, count(*), count(distinct person_key) from features.person_features group by 1"
        ).fetchall()
        expected = dict(
            con.execute(
                "select d, (select count(*) from raw.persons where created_at < d) "
                "from (select distinct as_of_date as d from features.person_features)"
            ).fetchall()
        )
        accounts = con.execute(
            "select count(*) from features.account_features where as_of_date = ?", [AS_OF]
        ).fetchall()[0][0]
        accounts_then = con.execute(
            "select count(*) from raw.accounts where created_at < ?", [AS_OF]
        ).fetchall()[0][0]
    # Partitions 2025-05-01 .. 2025-06-30 are as of the following mornings.
    assert [d for d, *_ in sorted(per_date)] == [
        datetime.date(2025, 5, 2) + datetime.timedelta(days=i) for i in range(61)
    ]
    assert all(n == distinct == expected[d] for d, n, distinct in per_date)
    assert expected[AS_OF] > 0 and accounts == accounts_then > 0


def test_windowed_counts_match_a_direct_count_of_the_events(built: Settings) -> None:
    measures = {
        "page_views": "event_type = 'web.webpagedetails.pageViews'",
        "forms_filled": "event_type = 'web.formFilledOut'",
        "emails_opened": "event_type = 'directMarketing.emailOpened'",
        "pricing_visits": "web_url like '%/pricing%'",
    }
    counts = ", ".join(
        f"count(*) filter (where {condition} and timestamp >= $as_of - interval {w} day) as {m}_{w}d"
        for m, condition in measures.items()
        for w in WINDOWS
    )
    columns = ", ".join(f"{m}_{w}d" for m in measures for w in WINDOWS)
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        direct = con.execute(
            f"select person_key, {counts} from raw.experience_events "
            "where timestamp < $as_of group by person_key having count(*) filter "
            "(where timestamp >= $as_of - interval 90 day) > 0 order by person_key",
            {"as_of": AS_OF},
        ).fetchall()
        features = con.execute(
            f"select person_key, {columns} from features.person_features "
            f"where as_of_date = ? and person_key in (select person_key from raw.experience_events "
            "where timestamp < ? and timestamp >= ? - interval 90 day) order by person_key",
            [AS_OF, AS_OF, AS_OF],
        ).fetchall()
    assert len(direct) > 100
    assert features == direct


def test_journey_recency_matches_the_research_and_high_intent_events(built: Settings) -> None:
    """Research and high-intent content as the seed content_signals defines it: counts, the days
    since the last of each and since the first research event of the last 60 days."""
    research = " or ".join(
        [f"web_url like '%{path}%'" for path in ("/product", "/compare", "/case-studies")]
        + [
            f"asset_name ilike '{name}'"
            for name in (
                "%roi calculator%",
                "%buyer%guide%",
                "%analyst report%",
                "%implementation checklist%",
            )
        ]
    )
    high_intent = " or ".join(
        [
            f"web_url like '%{path}%'"
            for path in ("/pricing", "/plans", "/demo", "/contact-sales", "/contact-us")
        ]
        + [f"asset_name ilike '{name}'" for name in ("%demo request%", "%free trial%", "%contact sales%")]
    )
    days_before = "$as_of - cast(timestamp as date)"
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        direct = con.execute(
            f"select person_key, count(*) filter (where ({research}) and {days_before} <= 30), "
            f"min({days_before}) filter (where {research}), min({days_before}) filter (where {high_intent}), "
            f"max({days_before}) filter (where ({research}) and {days_before} <= 60) "
            "from raw.experience_events where timestamp < $as_of and timestamp >= $as_of - interval 90 day "
            "group by person_key order by person_key",
            {"as_of": AS_OF},
        ).fetchall()
        features = con.execute(
            "select person_key, research_events_30d, days_since_research, days_since_high_intent, "
            "days_since_first_research_60d from features.person_features where as_of_date = ? "
            "and person_key in (select person_key from raw.experience_events "
            "where timestamp < ? and timestamp >= ? - interval 90 day) order by person_key",
            [AS_OF, AS_OF, AS_OF],
        ).fetchall()
    assert sum(row[1] > 0 for row in direct) > 20 and sum(row[3] is not None for row in direct) > 5
    assert features == direct


def test_features_for_a_date_ignore_later_events_and_profile_changes(built: Settings, tmp_path: Path) -> None:
    warehouse = copy_warehouse(built, tmp_path)
    before = {t: rows(warehouse, t, AS_OF) for t in ("person_features", "account_features")}
    midnight = datetime.datetime.combine(AS_OF, datetime.time())
    with duckdb.connect(str(warehouse)) as con:
        persons = [
            r[0]
            for r in con.execute(
                "select person_key from raw.persons where account_key is not null and created_at < ? "
                "order by person_key limit 40",
                [midnight - datetime.timedelta(days=1)],
            ).fetchall()
        ]
        # Events at the as-of instant itself and later: pricing visits, forms, conversions.
        con.execute(
            "insert into raw.experience_events (event_id, person_key, timestamp, event_type, web_url) "
            "select 'PLANTED-' || p || '-' || k, p, ?::timestamp + to_days(k * 2), "
            "['web.webpagedetails.pageViews', 'web.formFilledOut', 'leadOperation.convertLead'][1 + k % 3], "
            "'https://www.example-vendor.com/pricing' "
            "from unnest(?::varchar[]) t(p), range(3) r(k)",
            [midnight, persons],
        )
        # Profile changes observed now, which is after the as-of date.
        con.execute(
            "update raw.persons set job_title = 'Chief Executive Officer', country = 'Atlantis', "
            "account_key = (select max(account_key) from raw.accounts) where list_contains(?, person_key)",
            [persons],
        )
        con.execute("update raw.accounts set industry = 'Space Mining', number_of_employees = 999999")
        con.execute(
            "insert into raw.opportunity_events (event_id, opportunity_key, account_key, timestamp, "
            "attribute_name, new_value) select 'PLANTED-' || account_key, 'OPP-PLANTED-' || account_key, "
            "account_key, ?, 'Stage', 'Closed Won' from raw.accounts",
            [midnight],
        )
        con.execute(
            "insert into raw.intent_signals (account_key, topic, signal_date, intensity, provider) "
            "select account_key, 'Planted Topic', ?, 99, 'planted' from raw.accounts",
            [AS_OF],
        )
        con.execute(
            "insert into raw.persons (person_key, created_at, job_title) values ('PLANTED-NEW', ?, 'CMO')",
            [midnight],
        )
    run_dbt(built, warehouse, (AS_OF, AS_OF + datetime.timedelta(days=1)), tmp_path)
    for table, expected in before.items():
        assert differences(rows(warehouse, table, AS_OF), expected) == {}, table

    # The same changes do show in later as-of dates: events from the next day on, profile
    # changes from the day after they were observed.
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    run_dbt(
        built, warehouse, (AS_OF + datetime.timedelta(days=1), AS_OF + datetime.timedelta(days=2)), tmp_path
    )
    run_dbt(built, warehouse, (tomorrow, tomorrow + datetime.timedelta(days=1)), tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        next_day = dict(
            con.execute(
                "select person_key, pricing_visits_7d from features.person_features where as_of_date = ?",
                [AS_OF + datetime.timedelta(days=1)],
            ).fetchall()
        )
        assert all(next_day[p] >= 1 for p in persons)
        assert "PLANTED-NEW" in next_day
        later = con.execute(
            "select distinct job_seniority, country, industry from features.person_features "
            "where as_of_date = ? and list_contains(?, person_key)",
            [tomorrow, persons],
        ).fetchall()
    assert later == [("C-Level", "Atlantis", "Space Mining")]


def test_rerunning_a_partition_is_idempotent(built: Settings, tmp_path: Path) -> None:
    warehouse = copy_warehouse(built, tmp_path)
    before = rows(warehouse, "person_features", AS_OF)
    run_dbt(
        built, warehouse, (AS_OF - datetime.timedelta(days=2), AS_OF + datetime.timedelta(days=1)), tmp_path
    )
    assert differences(rows(warehouse, "person_features", AS_OF), before) == {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        duplicates = con.execute(
            "select count(*) from (select person_key, as_of_date from features.person_features "
            "group by all having count(*) > 1)"
        ).fetchall()[0][0]
    assert duplicates == 0


def test_weekly_history_equals_the_daily_tables_on_its_dates(built: Settings) -> None:
    for daily, history in (
        ("person_features", "person_feature_history"),
        ("account_features", "account_feature_history"),
    ):
        daily_rows = rows(built.warehouse_path, daily, AS_OF)
        assert differences(rows(built.warehouse_path, history, AS_OF), daily_rows) == {} and daily_rows
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        dates = [
            r[0]
            for r in con.execute(
                "select distinct as_of_date from features.person_feature_history order by 1"
            ).fetchall()
        ]
    assert all(d.weekday() == 0 for d in dates) and len(dates) >= 8
    assert all((b - a).days == 7 for a, b in zip(dates, dates[1:], strict=False))


def test_engagement_score_decays_with_the_configured_half_life(built: Settings, tmp_path: Path) -> None:
    warehouse = copy_warehouse(built, tmp_path)
    with tiny_world_settings(built.data_dir) as settings, pytest.MonkeyPatch.context() as patch:
        patch.setenv("B2B_SCORING_ENGAGEMENT_HALF_LIFE_DAYS", "100000")
        run_dbt(Settings.from_env(), warehouse, (AS_OF, AS_OF + datetime.timedelta(days=1)), tmp_path)
        assert settings.engagement_half_life_days == 14
    with duckdb.connect(str(warehouse), read_only=True) as con:
        flat = con.execute(
            "select max(abs(engagement_score - engagement_events_90d)), sum(engagement_events_90d) "
            "from features.person_features where as_of_date = ?",
            [AS_OF],
        ).fetchall()[0]
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        decayed = con.execute(
            "select sum(engagement_score), sum(engagement_events_90d), "
            "count(*) filter (where engagement_score > engagement_events_90d) "
            "from features.person_features where as_of_date = ?",
            [AS_OF],
        ).fetchall()[0]
    # With a near-infinite half-life every event weighs 1; with 14 days, old events weigh less.
    assert flat[0] < 0.01 and flat[1] > 0
    assert decayed[0] < 0.5 * decayed[1] and decayed[2] == 0


def test_job_titles_parse_to_the_simulated_function_and_seniority(built: Settings) -> None:
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        function_accuracy, seniority_accuracy, titled = con.execute(
            "select avg((t.function = f.job_function)::int), avg((t.seniority = f.job_seniority)::int), "
            "count(*) from features.person_features f join truth.persons t using (person_key) "
            "join raw.persons p using (person_key) where f.as_of_date = ? and p.job_title is not null",
            [AS_OF],
        ).fetchall()[0]
    assert titled > 300
    assert function_accuracy >= 0.97 and seniority_accuracy >= 0.93


COMMON_TITLES = {
    "VP, Mktg": ("Marketing", "VP"),
    "Sr. Dir. Data & Analytics": ("Data", "Director"),
    "CTO": ("Engineering", "C-Level"),
    "Head of IT Infrastructure": ("IT", "Director"),
    "Vice President of Sales Operations": ("Sales", "VP"),
    "Revenue Operations Manager": ("Sales", "Manager"),
    "Intern - Human Resources": ("HR", "Intern"),
    "Lead Data Engineer": ("Data", "Senior"),
    "Network Engineer": ("IT", "Individual Contributor"),
    "General Counsel": ("Legal", "C-Level"),
    "Office Assistant": (None, "Individual Contributor"),
}


def test_common_title_spellings_and_abbreviations(built: Settings, tmp_path: Path) -> None:
    warehouse = copy_warehouse(built, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        # staging views are live: the title parsing sees the planted titles at once.
        con.execute(
            "insert into raw.persons (person_key, created_at, job_title) "
            "select 'TITLE-' || title, timestamp '2025-01-01', title from unnest(?::varchar[]) t(title)",
            [list(COMMON_TITLES)],
        )
        parsed = con.execute(
            "select job_title, job_function, job_seniority from staging.int_job_titles "
            "where list_contains(?, job_title)",
            [list(COMMON_TITLES)],
        ).fetchall()
    assert {title: (f, s) for title, f, s in parsed} == COMMON_TITLES


def test_a_scheduled_run_and_a_manual_materialization_at_once_do_not_collide(
    built: Settings, tmp_path: Path
) -> None:
    """Two Dagster processes writing the one DuckDB file at the same time: the `duckdb` pool of
    the instance (dagster.yaml) makes the second wait for the first's step instead of failing
    on DuckDB's file lock."""
    dagster = Path(sys.executable).with_name("dagster")
    home = ensure_dagster_home(tmp_path / "dagster_home")
    # The instance storage exists before the runs, as it does for a user (two processes creating
    # a fresh SQLite storage at the same instant race on its tables).
    dg.DagsterInstance.from_config(str(home)).dispose()
    env = {**os.environ, **tiny_world_env(built.data_dir), "DAGSTER_HOME": str(home)}
    day = TINY_END_DATE.isoformat()
    scheduled = [
        str(dagster), "job", "execute", "-m", "b2b_scoring.definitions", "-j", DAILY_PIPELINE_JOB,
        "--tags", json.dumps({"dagster/partition": day, "dagster/schedule_name": "daily_schedule"}),
    ]  # fmt: skip
    manual = [
        str(dagster), "asset", "materialize", "-m", "b2b_scoring.definitions",
        "--select", "features/person_features,features/account_features", "--partition", day,
    ]  # fmt: skip
    processes = [
        subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for command in (scheduled, manual)
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]
        assert "RUN_SUCCESS" in output and "could not set lock" not in output.lower(), output[-4000:]
    # Both really ran their steps; one of them waited for the pool.
    assert all("STEP_SUCCESS" in output for output in outputs)
    assert any("blocked by limit for pool duckdb" in output for output in outputs)


def test_weekly_history_built_in_runs_of_a_few_mondays_equals_one_build(
    built: Settings, tmp_path: Path
) -> None:
    """The tiny pipeline builds the history 3 Mondays per dbt run (B2B_SCORING_HISTORY_WEEKS_PER_RUN,
    the Dagster asset runs the history models again until they are complete); rebuilt in one run,
    every history table is the same."""
    copy = copy_warehouse(built, tmp_path)
    with duckdb.connect(str(copy), read_only=True) as con:
        mondays = con.execute(
            "select count(distinct as_of_date) from features.person_activity_history"
        ).fetchall()
    assert mondays[0][0] > 3 * 2  # so it took at least three runs
    completed = run_dbt_outside_dagster(
        [*build_dbt_args(built, copy, full_refresh=True), "--select", " ".join(HISTORY_MODELS)],
        tmp_path / "target",
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as con:
        con.execute(f"attach '{built.warehouse_path}' as chunked (read_only)")
        for table in HISTORY_MODELS:
            one_way, other_way, total = con.execute(
                f"select (select count(*) from (select * from features.{table} except all "
                f"select * from chunked.features.{table})), "
                f"(select count(*) from (select * from chunked.features.{table} except all "
                f"select * from features.{table})), (select count(*) from features.{table})"
            ).fetchall()[0]
            assert (one_way, other_way) == (0, 0) and total > 0, table


def test_history_runs_are_sized_by_the_population() -> None:
    assert history_weeks_per_run(1_500) == 520
    assert history_weeks_per_run(100_000) == 50
    assert history_weeks_per_run(1_000_000) == 5
    assert history_weeks_per_run(50_000_000) == 4
