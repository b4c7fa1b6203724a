"""The scoring assets on the 400-day world (a copy, so the shared world stays read-only): a day x
goal partition scores every eligible person with the champion model; a rerun leaves the same
rows; the export holds only what changed since the previous score date."""

import dagster as dg
import duckdb
import pytest

from b2b_scoring.cli import main
from b2b_scoring.defs.features.dbt import defs as dbt_definitions
from b2b_scoring.defs.partitions import partition_range_tags
from b2b_scoring.defs.resources import resources
from b2b_scoring.defs.scoring.assets import DATE, GOAL, _entity_assets, export_key, score_key
from b2b_scoring.defs.scoring.intraday import INTRADAY_KEY, intraday_person_scores
from b2b_scoring.defs.training.assets import training_definitions
from b2b_scoring_tests.conftest import copy_year_world, use_year_world


def test_daily_person_scores(year_world, tmp_path, monkeypatch, capsys):
    if not year_world.training["lead_conversion"].success:
        pytest.skip("the lead goal of the 400-day world did not train")
    settings = use_year_world(monkeypatch, copy_year_world(year_world, tmp_path))
    data_dir = settings.data_dir
    dbt = dbt_definitions()
    all_resources = {**resources().resources, **dbt.resources}
    daily_dbt = [a for a in dbt.assets if a.partitions_def is not None]
    assert dg.materialize(
        daily_dbt, resources=all_resources, tags=partition_range_tags("2025-06-28", "2025-06-29")
    ).success
    # With the registry asset in the graph, so the partition mappings are resolved as in the UI.
    scoring = [*_entity_assets(settings, "person"), *training_definitions().assets]

    def score(day: str) -> None:
        key = dg.MultiPartitionKey({DATE: day, GOAL: "lead_conversion"})
        selection = [score_key("person"), export_key("person")]
        assert dg.materialize(
            scoring, resources=all_resources, partition_key=key, selection=selection
        ).success

    score("2025-06-28")
    score("2025-06-29")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        first = con.sql(
            "select * exclude (scored_at) from scores.person_scores order by score_date, person_key"
        ).fetchall()
        eligible = con.sql(
            "select count(*) from features.person_features "
            "where as_of_date = '2025-06-30' and not has_converted"
        ).fetchall()[0][0]
        summary = con.sql(
            "select count(*), count(previous_score), min(score), max(score), "
            "min(percentile), max(percentile) "
            "from scores.person_scores where score_date = '2025-06-30'"
        ).fetchall()[0]
        inverted = con.sql(
            "select count(*) from scores.person_scores a join scores.person_scores b "
            "on a.score_date = b.score_date and a.probability > b.probability "
            "and (a.score < b.score or a.percentile < b.percentile) where a.score_date = '2025-06-30'"
        ).fetchall()[0][0]
        changed = con.sql(
            "select count(*) from scores.person_scores where score_date = '2025-06-30' "
            "and (previous_score is null or score <> previous_score or tier <> previous_tier)"
        ).fetchall()[0][0]
        with_reasons = con.sql(
            "select count(*) from scores.person_scores where len(influential_factors) > 0"
        ).fetchall()[0][0]
    assert summary[0] == eligible > 1000
    assert summary[1] > 0.95 * eligible  # nearly everyone was scored the day before
    assert 0 <= summary[2] < summary[3] <= 100 and summary[4] >= 1 and summary[5] == 100
    assert inverted == 0
    assert with_reasons > 0.9 * len(first)
    score("2025-06-29")  # the same partition again: the same rows
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        again = con.sql(
            "select * exclude (scored_at) from scores.person_scores order by score_date, person_key"
        ).fetchall()
        assert again == first
        exported = con.sql(
            "select count(*) from read_csv("
            f"'{data_dir}/exports/crm/lead_conversion/person_scores_2025-06-30.csv')"
        ).fetchall()[0][0]
    assert exported == changed < eligible
    # The CLI backfill runs the real scoring job over the same days: the same rows again.
    assert main(["score", "--start", "2025-06-28", "--end", "2025-06-29", "--goal", "lead_conversion"]) == 0
    assert "2 of 2 scoring runs succeeded" in capsys.readouterr().out
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        backfilled = con.sql(
            "select * exclude (scored_at) from scores.person_scores order by score_date, person_key"
        ).fetchall()
    assert backfilled == first
    assert main(["score", "--start", "2025-06-29", "--goal", "nope"]) == 2
    top = next(row for row in sorted(again, key=lambda r: -r[6]) if row[2].isoformat() == "2025-06-30")
    assert main(["explain", "--person", top[0], "--days", "5"]) == 0
    printed = capsys.readouterr().out
    assert f"person {top[0]} - goal lead_conversion (model v1)" in printed
    assert "2025-06-30" in printed and "2025-06-29" in printed
    assert f"tier {top[8]} -> " in printed and printed.count("    + ") == len(top[10])
    assert main(["explain", "--person", "nobody"]) == 1
    assert "no scores of person nobody" in capsys.readouterr().err
    # The account goal: scored by its own model, with the roll-ups of the persons' probabilities.
    accounts = [*_entity_assets(settings, "account"), *training_definitions().assets]
    key = dg.MultiPartitionKey({DATE: "2025-06-29", GOAL: "opportunity_contract"})
    selection = [score_key("account"), export_key("account")]
    assert dg.materialize(accounts, resources=all_resources, partition_key=key, selection=selection).success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        scored, with_persons, bounded, top_linked = con.sql(
            "select count(*), count(*) filter (rollup_max > 0), "
            "count(*) filter (rollup_max <= rollup_noisy_or and rollup_top3_mean <= rollup_max), "
            "count(*) filter (influential_factors[1].code not like 'rollup%') "
            "from scores.account_scores where score_date = '2025-06-30'"
        ).fetchall()[0]
        accounts_in_features = con.sql(
            "select count(*) from features.account_features where as_of_date = '2025-06-30'"
        ).fetchall()[0][0]
    assert scored == accounts_in_features and bounded == scored
    assert 0 < with_persons < scored  # some accounts have no scored (unconverted, linked) person
    assert top_linked > 0.5 * scored  # the account model (it wins the backtest) gives the factors
    # Intraday: the persons active on the day are rescored as of the next morning (features of
    # day + 1), against the day's morning scores; the daily tables stay as they were.
    intraday = [*_entity_assets(settings, "person"), *training_definitions().assets, intraday_person_scores]
    config = {"ops": {"scores__intraday_person_scores": {"config": {"day": "2025-06-30"}}}}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        daily_before = con.sql("select count(*) from scores.person_scores").fetchall()[0][0]
        active = con.sql(
            "select count(distinct e.person_key) from raw.experience_events e "
            "where e.timestamp >= '2025-06-30' and e.timestamp < '2025-07-01'"
        ).fetchall()[0][0]
    for _ in range(2):  # a second run replaces the same persons' rows
        assert dg.materialize(
            intraday, resources=all_resources, selection=[INTRADAY_KEY], run_config=config
        ).success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows, persons, dates, with_morning, percentiles_ok = con.sql(
            "select count(*), count(distinct person_key), count(distinct score_date), count(previous_score), "
            "count(*) filter (percentile between 1 and 100) from scores.intraday_person_scores"
        ).fetchall()[0]
        score_date = con.sql("select any_value(score_date) from scores.intraday_person_scores").fetchall()[0][
            0
        ]
        daily_after = con.sql("select count(*) from scores.person_scores").fetchall()[0][0]
    assert 0 < rows == persons <= active and dates == 1 and score_date.isoformat() == "2025-07-01"
    assert with_morning > 0.9 * rows and percentiles_ok == rows
    assert daily_after == daily_before
