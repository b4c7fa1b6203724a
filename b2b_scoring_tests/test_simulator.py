"""Statistics of the simulated B2B world: it must make scoring real work, with ground truth."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from b2b_scoring.lib import contract
from b2b_scoring.lib.simulator import (
    LEAD_CONVERSION,
    OPPORTUNITY_CONTRACT,
    SimulationConfig,
    simulate_world,
    true_conversion_probability,
    write_landing_files,
)
from b2b_scoring.lib.simulator.config import ProcessParameters
from b2b_scoring.lib.simulator.truth import (
    _contract_in_window,
    _open_journey_ends_in_window,
    _process_parameters,
    _uniform_pmf,
)
from b2b_scoring.lib.simulator.vocabulary import FREE_MAIL_DOMAINS

END = dt.date(2026, 6, 30)
CONFIG = SimulationConfig(n_persons=6_000, end_date=END, seed=11)


@pytest.fixture(scope="module")
def world():
    return simulate_world(CONFIG)


@pytest.fixture(scope="module")
def db(world):
    con = duckdb.connect()
    for name, table in world.tables.items():
        con.register(name, table)
    for name, table in world.truth.items():
        con.register(f"truth_{name}", table)
    yield con
    con.close()


def scalar(db: duckdb.DuckDBPyConnection, sql: str) -> float:
    return db.execute(sql).fetchall()[0][0]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def test_same_seed_same_world_other_seed_other_world(world):
    again = simulate_world(CONFIG)
    for name in contract.CONTRACTS:
        assert again.tables[name].equals(world.tables[name]), name
    for name in world.truth:
        assert again.truth[name].equals(world.truth[name]), name
    other = simulate_world(SimulationConfig(n_persons=6_000, end_date=END, seed=12))
    assert not other.tables["experience_events"].equals(world.tables["experience_events"])


def test_tables_follow_the_contract(world, db):
    for name, table_contract in contract.CONTRACTS.items():
        table = world.tables[name]
        assert table.column_names == table_contract.column_names
        for column in table_contract.required_columns:
            assert table.column(column).null_count == 0, (name, column)
        key = ", ".join(table_contract.key)
        duplicates = scalar(db, f"select count(*) - count(distinct ({key})) from {name}")
        assert duplicates == 0, name
    assert scalar(db, "select count(*) from intent_signals where account_key is null and domain is null") == 0
    unknown_types = db.execute(
        "select distinct event_type from experience_events where event_type not in ?",
        [list(contract.EVENT_TYPES)],
    ).fetchall()
    assert unknown_types == []
    start, end = CONFIG.start_date, CONFIG.end_date + dt.timedelta(days=1)
    for name in ("experience_events", "opportunity_events", "sales_dispositions"):
        low, high = db.execute(f"select min(timestamp), max(timestamp) from {name}").fetchall()[0]
        assert low >= dt.datetime.combine(start, dt.time()) and high < dt.datetime.combine(end, dt.time()), (
            name
        )
    orphans = scalar(db, "select count(*) from experience_events e anti join persons p using (person_key)")
    assert orphans == 0


def test_world_has_the_configured_size_and_realistic_volume(world):
    assert world.tables["persons"].num_rows == 6_000
    assert world.tables["accounts"].num_rows == 600
    events_per_person = world.tables["experience_events"].num_rows / 6_000
    assert 10 <= events_per_person <= 40


def test_account_sizes_are_heavy_tailed(db):
    employees = np.array(
        db.execute("select number_of_employees from accounts").fetchnumpy()["number_of_employees"]
    )
    assert np.median(employees) < 200 and employees.max() > 20 * np.median(employees)
    persons_per_account = np.sort(
        db.execute("select count(*) n from truth_persons group by true_account_key").fetchnumpy()["n"]
    )[::-1]
    top_tenth = persons_per_account[: max(1, len(persons_per_account) // 10)].sum()
    assert top_tenth / persons_per_account.sum() > 0.3


def test_conversion_rate_is_in_the_realistic_range(db):
    converted_share = scalar(
        db,
        "select count(distinct person_key) / (select count(*) from persons) from experience_events "
        "where event_type = 'leadOperation.convertLead'",
    )
    assert 0.01 <= converted_share <= 0.10
    stages = dict(db.execute("select new_value, count(*) from opportunity_events group by 1").fetchall())
    assert stages["Contract"] > 20 and stages["Closed Won"] > 10 and stages["Closed Lost"] > 10
    assert stages["Prospecting"] > stages["Qualification"] > stages["Proposal"] > stages["Contract"]


def test_a_share_of_persons_is_unlinked_and_some_are_anonymous(db):
    shares = dict(
        db.execute(
            "select link_class, count(*) / sum(count(*)) over () from truth_persons group by 1"
        ).fetchall()
    )
    assert 0.25 <= shares["known_unlinked"] + shares["anonymous"] <= 0.35
    assert 0.03 <= shares["anonymous"] <= 0.07
    unlinked_with_key = scalar(
        db,
        "select count(*) from persons join truth_persons t using (person_key) "
        "where t.link_class <> 'account_person' and persons.account_key is not null",
    )
    assert unlinked_with_key == 0
    anonymous_with_identity = scalar(
        db,
        "select count(*) from persons join truth_persons t using (person_key) "
        "where t.link_class = 'anonymous' "
        "and (email is not null or company_name is not null or company_website is not null)",
    )
    assert anonymous_with_identity == 0
    known_without_identity = scalar(
        db,
        "select count(*) from persons join truth_persons t using (person_key) "
        "where t.link_class = 'known_unlinked' "
        "and email is null and company_name is null and company_website is null",
    )
    assert known_without_identity == 0


def test_unlinked_persons_carry_noisy_but_traceable_company_evidence(db):
    evidence = db.execute(
        """
        select
            avg((split_part(lower(email), '@', 2) = a.domain)::int) as exact_email_domain,
            avg(list_contains(?, split_part(lower(email), '@', 2))::int) as free_mail,
            avg((lower(p.company_name) = lower(acc.account_name))::int) as exact_name
        from persons p
        join truth_persons t using (person_key)
        join truth_accounts a on a.account_key = t.true_account_key
        join accounts acc on acc.account_key = t.true_account_key
        where t.link_class = 'known_unlinked' and email is not null and p.company_name is not null
        """,
        [list(FREE_MAIL_DOMAINS)],
    ).fetchall()[0]
    exact_email_domain, free_mail, exact_name = evidence
    assert 0.6 < exact_email_domain < 0.95
    assert 0.08 < free_mail < 0.3
    assert 0.2 < exact_name < 0.8  # names are often typed differently from the CRM's


def test_job_titles_are_messy(db):
    distinct_titles = scalar(db, "select count(distinct job_title) from persons")
    lower_case = scalar(
        db, "select count(*) from persons where job_title = lower(job_title) and job_title <> ''"
    )
    assert distinct_titles > 400 and lower_case > 100
    vp_spellings = scalar(
        db,
        "select count(distinct job_title) from persons join truth_persons using (person_key) "
        "where seniority = 'VP' and function = 'Marketing'",
    )
    assert vp_spellings >= 8


def test_engagement_accelerates_before_conversions(db):
    lift = db.execute(
        """
        with conversions as (
            select person_key, min(timestamp) as converted_at from experience_events
            where event_type = 'leadOperation.convertLead' group by 1
        ),
        before as (
            select count(*) / (select count(*) from conversions) as per_person,
                   avg((web_url like '%/pricing' or web_url like '%/demo' or asset_name in
                        ('Demo Request', 'Contact Sales', 'Free Trial'))::int) as high_intent_share
            from experience_events e join conversions c using (person_key)
            where e.timestamp >= c.converted_at - interval 30 day and e.timestamp < c.converted_at
              and e.event_type <> 'leadOperation.convertLead'
        ),
        never as (
            select count(*) / (select count(*) from persons
                               where person_key not in (select person_key from conversions)
                                and created_at < timestamp '2025-06-01') as per_person,
                   avg((web_url like '%/pricing' or web_url like '%/demo' or asset_name in
                        ('Demo Request', 'Contact Sales', 'Free Trial'))::int) as high_intent_share
            from experience_events e
            where e.person_key not in (select person_key from conversions)
              and e.timestamp >= timestamp '2025-06-01' and e.timestamp < timestamp '2025-07-01'
              and e.person_key in (select person_key from persons where created_at < timestamp '2025-06-01')
        )
        select before.per_person / never.per_person, before.high_intent_share / never.high_intent_share
        from before, never
        """
    ).fetchall()[0]
    activity_lift, intent_lift = lift
    assert activity_lift > 3
    # Without acceleration the share would be about the same (lift 1); every journey's first touch
    # is a plain research visit, which keeps the measured lift near 2.4 rather than higher.
    assert intent_lift > 2


def test_engagement_decays_after_conversion(db):
    weeks = db.execute(
        """
        with conversions as (
            select person_key, min(timestamp) as converted_at from experience_events
            where event_type = 'leadOperation.convertLead' and timestamp < timestamp '2026-01-01' group by 1
        )
        select
            count(*) filter (where e.timestamp >= c.converted_at - interval 14 day
                             and e.timestamp < c.converted_at),
            count(*) filter (where e.timestamp > c.converted_at + interval 60 day
                             and e.timestamp <= c.converted_at + interval 74 day)
        from experience_events e join conversions c using (person_key)
        """
    ).fetchall()[0]
    assert weeks[0] > 2 * weeks[1]


def test_intent_rises_before_opportunities_open(db):
    before_open, baseline = db.execute(
        """
        with opened as (
            select account_key, min(timestamp)::date as opened_on from opportunity_events
            where new_value = 'Prospecting' group by 1
        ),
        product_intent as (
            select a.account_key, i.signal_date, i.intensity
            from intent_signals i join accounts a on i.domain = a.website
                 or i.domain = regexp_replace(a.website, '^(https?://)?(www\\.)?|/$', '', 'g')
            where i.topic in ('Predictive Lead Scoring', 'Account-Based Marketing', 'Customer Data Platform',
                              'Marketing Automation', 'Sales Intelligence', 'Intent Data')
        )
        select
            (select count(*) from product_intent p join opened o using (account_key)
              where p.signal_date >= o.opened_on - 21 and p.signal_date < o.opened_on)
              / (select count(*) from opened),
            (select count(*) from product_intent) / (select count(*) from accounts)
              * 21 / (select max(signal_date) - min(signal_date) from intent_signals)
        """
    ).fetchall()[0]
    assert before_open > 3 * baseline


def test_busy_weekdays_and_quiet_weekends(db):
    weekend_share = scalar(
        db,
        "select avg((dayofweek(timestamp) in (0, 6))::int) from experience_events "
        "where event_type <> 'leadOperation.newLead'",
    )
    assert weekend_share < 0.12  # 2/7 = 0.29 if there were no weekly rhythm
    august, october = db.execute(
        "select count(*) filter (where month(timestamp) = 8 and year(timestamp) = 2025), "
        "count(*) filter (where month(timestamp) = 10 and year(timestamp) = 2025) from experience_events"
    ).fetchall()[0]
    assert august < 0.9 * october


@pytest.mark.parametrize("as_of", [dt.date(2025, 9, 1), dt.date(2026, 2, 1)])
def test_oracle_probabilities_are_calibrated_and_discriminating(world, db, as_of):
    window = 90
    probability = true_conversion_probability(world.truth, as_of, window, LEAD_CONVERSION)
    db.register("oracle", probability)
    labelled = db.execute(
        f"""
        select o.probability, exists (
            select 1 from experience_events e where e.person_key = o.person_key
            and e.event_type = 'leadOperation.convertLead'
            and e.timestamp >= date '{as_of}'
            and e.timestamp < date '{as_of}' + interval {window} day) as converted
        from oracle o
        """
    ).fetchnumpy()
    expected, observed = labelled["probability"].sum(), labelled["converted"].sum()
    assert observed >= 20
    assert abs(observed - expected) < 4 * math.sqrt(expected)
    assert 0.004 < observed / len(labelled["converted"]) < 0.05
    assert roc_auc(labelled["converted"], labelled["probability"]) > 0.8
    # Everyone scored was created before the as-of date and had not converted yet.
    assert len(probability) == scalar(
        db,
        f"select count(*) from truth_persons where created_day < {(as_of - CONFIG.start_date).days} "
        f"and (converted_day is null or converted_day >= {(as_of - CONFIG.start_date).days})",
    )


def test_oracle_knows_only_what_has_happened(world):
    """Random draws whose effects have not shown by the as-of date (who joins a committee later,
    whether a journey converts) must not move the true probability."""
    as_of = dt.date(2026, 2, 1)
    day = (as_of - CONFIG.start_date).days
    journeys = world.truth["journeys"]
    started = pc.less(journeys["start_day"], day)
    committee = pc.is_valid(journeys["episode_id"])
    late_joiner = pc.and_(committee, pc.invert(started))
    assert pc.sum(late_joiner).as_py() > 20
    # Committee journeys of episodes that had started but not yet reached the person.
    episode_start = world.truth["episodes"]["start_day"].take(pc.fill_null(journeys["episode_id"], 0))
    pending = pc.and_(late_joiner, pc.less(episode_start, day))
    assert pc.sum(pending).as_py() > 5
    kept = journeys.filter(pc.invert(pending))
    other_draws = {
        **world.truth,
        "journeys": kept.set_column(
            kept.schema.get_field_index("converts"), "converts", pc.invert(kept["converts"])
        ),
    }
    expected = true_conversion_probability(world.truth, as_of, 90, LEAD_CONVERSION)
    again = true_conversion_probability(other_draws, as_of, 90, LEAD_CONVERSION)
    assert expected["person_key"].equals(again["person_key"])
    np.testing.assert_allclose(again["probability"].to_numpy(), expected["probability"].to_numpy(), rtol=1e-9)


def test_oracle_does_not_know_when_running_journeys_and_opportunity_stages_will_end(world):
    """A running journey's end and the next opportunity stage's day are draws that show only when
    they happen: moving them later must not move the true probability."""
    as_of = dt.date(2026, 2, 1)
    day, window = (as_of - CONFIG.start_date).days, 30
    journeys = world.truth["journeys"]
    end = journeys["end_day"].to_numpy()
    running = (journeys["start_day"].to_numpy() < day) & (end >= day)
    assert (running & (end < day + window)).sum() > 20
    later_ends = journeys.set_column(
        journeys.schema.get_field_index("end_day"), "end_day", pa.array(np.where(running, end + 60, end))
    )
    for goal, truth in (
        (LEAD_CONVERSION, {**world.truth, "journeys": later_ends}),
        (
            OPPORTUNITY_CONTRACT,
            {**world.truth, "episodes": _later_future_stages(world.truth["episodes"], day)},
        ),
    ):
        expected = true_conversion_probability(world.truth, as_of, window, goal)
        again = true_conversion_probability(truth, as_of, window, goal)
        np.testing.assert_allclose(
            again["probability"].to_numpy(), expected["probability"].to_numpy(), rtol=1e-9
        )


def _later_future_stages(episodes: pa.Table, day: int) -> pa.Table:
    """The episodes with every stage that has not happened by `day` moved 40 days later."""
    moved = episodes
    started = episodes["start_day"].to_numpy() < day
    for k in range(5):
        stage_day = episodes[f"stage_{k}_day"].to_numpy()
        later = np.where(started & (stage_day >= day), stage_day + 40, stage_day)
        moved = moved.set_column(
            moved.schema.get_field_index(f"stage_{k}_day"), f"stage_{k}_day", pa.array(later)
        )
    assert not moved.equals(episodes)
    return moved


def test_oracle_timing_of_running_journeys_and_opportunities_is_calibrated(world):
    """Summed over running journeys and pending opportunities, the oracle's probabilities of ending
    (reaching Contract) in a 30-day window match how many did, over monthly as-of dates."""
    process = _process_parameters(world.truth["meta"]["process"][0].as_py())
    journeys, episodes = world.truth["journeys"], world.truth["episodes"]
    open_pmf = _uniform_pmf(process.opportunity_open_min_days, process.opportunity_open_max_days)
    stage_pmf = _uniform_pmf(process.stage_min_days, process.stage_max_days)
    window = 30
    totals = {"journeys": np.zeros(4), "contracts": np.zeros(4)}
    for day in range(120, CONFIG.history_days - window, 30):
        end = journeys["end_day"].to_numpy()
        running = np.flatnonzero((journeys["start_day"].to_numpy() < day) & (end >= day))
        ends = _open_journey_ends_in_window(world.truth, running, day, window, process)
        contract_day = episodes["stage_3_day"].to_numpy()
        pending = np.flatnonzero((episodes["start_day"].to_numpy() < day) & (contract_day >= day))
        contracts = _contract_in_window(episodes, pending, day, window, open_pmf, stage_pmf)
        for name, probability, happened in (
            ("journeys", ends, end[running] < day + window),
            ("contracts", contracts, contract_day[pending] < day + window),
        ):
            totals[name] += [
                len(probability),
                probability.sum(),
                happened.sum(),
                (probability * (1 - probability)).sum(),
            ]
    for name, (count, expected, observed, variance) in totals.items():
        assert count > 500 and 0.1 < observed / count < 0.9, name
        assert abs(observed - expected) < 4 * math.sqrt(variance), name


def test_brisk_engagement_makes_a_running_journey_likely_to_end_sooner():
    """Engagement comes faster the shorter the journey, so its pace so far moves the odds of the
    end falling in the window; with no pace to go by, the odds are the uniform duration's."""
    start, day, window = 0.5, 20, 14
    truth = {
        "journeys": pa.table({"journey_id": [0, 1], "start_day": [start, start], "intensity": [0.25, 0.25]}),
        "journey_events": pa.table(
            {"journey_id": [0, 0] + [1] * 10, "day": [3.0, 10.0, *np.linspace(12, 19.9, 10)]}
        ),
    }
    process = ProcessParameters()
    sluggish, brisk = _open_journey_ends_in_window(truth, np.array([0, 1]), day, window, process)
    assert sluggish < 0.3 and brisk > 0.7
    unpaced = {
        "journeys": truth["journeys"].set_column(2, "intensity", pa.array([0.0, 0.0])),
        "journey_events": truth["journey_events"].slice(0, 0),
    }
    # Durations 20..56 remain possible (the journey started on day 0), 20..33 end in the window.
    np.testing.assert_allclose(
        _open_journey_ends_in_window(unpaced, np.array([0, 1]), day, window, process), [14 / 37, 14 / 37]
    )


def test_account_oracle_is_calibrated(world, db):
    expected = observed = 0.0
    for as_of in (dt.date(2025, 3, 1), dt.date(2025, 9, 1), dt.date(2026, 2, 1)):
        probability = true_conversion_probability(world.truth, as_of, 90, OPPORTUNITY_CONTRACT)
        db.register("oracle", probability)
        expected += probability.column("probability").to_numpy().sum()
        observed += scalar(
            db,
            f"select count(distinct account_key) from opportunity_events where new_value = 'Contract' "
            f"and timestamp >= date '{as_of}' and timestamp < date '{as_of}' + interval 90 day "
            f"and account_key in (select account_key from oracle)",
        )
    assert observed >= 20
    assert abs(observed - expected) < 3 * math.sqrt(expected)


def test_crm_records_never_precede_their_account(db):
    early_opportunities = scalar(
        db,
        "select count(*) from opportunity_events o join accounts a using (account_key) "
        "where o.timestamp < a.created_at",
    )
    early_contacts = scalar(
        db,
        "select count(*) from persons p join accounts a using (account_key) "
        "where p.created_at < a.created_at",
    )
    assert early_opportunities == 0 and early_contacts == 0


def test_conversions_happen_in_business_hours(db):
    in_business_hours = scalar(
        db,
        "select avg((hour(timestamp) between 7 and 19)::int) from experience_events "
        "where event_type = 'leadOperation.convertLead'",
    )
    assert in_business_hours > 0.9


def test_oracle_rejects_unknown_goals(world):
    with pytest.raises(ValueError, match="unknown goal"):
        true_conversion_probability(world.truth, dt.date(2026, 1, 1), 90, "upsell")


@pytest.mark.parametrize("as_of", [CONFIG.start_date, END - dt.timedelta(days=30)])
def test_oracle_refuses_windows_outside_the_simulated_days(world, as_of):
    with pytest.raises(ValueError, match="outside the simulated days"):
        true_conversion_probability(world.truth, as_of, 90, LEAD_CONVERSION)


def test_config_validation():
    with pytest.raises(ValueError, match="n_persons"):
        SimulationConfig(n_persons=1)
    with pytest.raises(ValueError, match="history_days"):
        SimulationConfig(history_days=3)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_landing_files_round_trip_through_duckdb(world, tmp_path, fmt):
    written = write_landing_files(world, tmp_path, fmt=fmt)
    con = duckdb.connect()
    for name, table in world.tables.items():
        assert [p.parent.name for p in written[name]] == [name] * len(written[name])
        reader = "read_parquet" if fmt == "parquet" else "read_csv"
        count = con.execute(f"select count(*) from {reader}('{tmp_path / name}/*.{fmt}')").fetchall()[0][0]
        assert count == table.num_rows, name
    columns = [
        row[0]
        for row in con.execute(
            f"describe select * from read_parquet('{tmp_path}/_truth/persons.parquet')"
        ).fetchall()
    ]
    assert "true_account_key" in columns and "conversion_probability" in columns
    # Writing again replaces the files instead of adding to them.
    write_landing_files(world, tmp_path, fmt=fmt)
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    again = con.execute(f"select count(*) from {reader}('{tmp_path}/persons/*.{fmt}')").fetchall()[0][0]
    assert again == world.tables["persons"].num_rows
