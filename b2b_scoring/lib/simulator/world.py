"""The simulated B2B world: accounts, persons, buying journeys and everything they leave behind.

Generative story (all times are days since the world's first day):
- Accounts have firmographics and a latent fit that depends non-linearly on them. A planted
  ideal customer segment (Software and Financial Services accounts above 1,000 employees) gets
  extra fit; truth.accounts flags it, the ground truth of look-alike scoring.
- Accounts go in market (episodes) at a rate that grows with fit. An episode draws in a buying
  committee: persons of the account start research journeys within a few weeks, third-party
  intent rises from three weeks before, and an opportunity may open and move through stages.
- Persons also start journeys on their own. A journey shows up with a first touch (a research
  page view or download on its first day); its engagement then accelerates towards its end,
  where the lead converts with the person's conversion probability (fit x persona).
- Background activity (newsletters, blog, careers page) is noise that does not predict buying.
Everything observable goes to the contract tables; the latent state goes to the truth tables,
from which `truth.py` computes exact conversion probabilities for any as-of date.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from b2b_scoring.lib import contract
from b2b_scoring.lib.simulator import strings
from b2b_scoring.lib.simulator import vocabulary as vocab
from b2b_scoring.lib.simulator.config import SimulationConfig, month_activity, weekday_activity

Progress = Callable[[str], None]


@dataclass(frozen=True)
class World:
    config: SimulationConfig
    tables: dict[str, pa.Table]
    truth: dict[str, pa.Table]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _normalized(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


def _to_timestamps(config: SimulationConfig, days: np.ndarray) -> pa.Array:
    start_us = np.datetime64(config.start_date, "us").astype("int64")
    micros = start_us + np.round(np.asarray(days, dtype=np.float64) * 86_400e6).astype("int64")
    return pa.array(micros, pa.timestamp("us"))


def _business_hours(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """Move each time to a business-hours time of the same day."""
    hours = np.clip(rng.normal(13.5, 3.0, len(days)), 0.1, 23.9)
    return np.floor(days) + hours / 24.0


def _poisson_starts(
    rng: np.random.Generator,
    config: SimulationConfig,
    rate_per_day: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Start times of a Poisson process with rate rate_per_day x month activity on each owner's
    window; returns (owner index, start day)."""
    span = np.maximum(window_end - window_start, 0.0)
    counts = rng.poisson(rate_per_day * span)
    owner = np.repeat(np.arange(len(counts)), counts)
    start = window_start[owner] + rng.random(len(owner)) * span[owner]
    keep = rng.random(len(owner)) < month_activity(config.start_date, start)
    return owner[keep], start[keep]


def _group_offsets(group_of_member: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Members sorted by group, with each group's first position and size."""
    order = np.argsort(group_of_member, kind="stable")
    sizes = np.bincount(group_of_member, minlength=n_groups)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    return order, starts, sizes


def _ragged_pairs(starts: np.ndarray, sizes: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each owner i (e.g. an episode) and each member position in its group, the pair
    (i, position in the sorted member array)."""
    per_owner = sizes[owners]
    owner_of_pair = np.repeat(np.arange(len(owners)), per_owner)
    first_pair = np.r_[0, np.cumsum(per_owner)[:-1]]
    position = starts[owners][owner_of_pair] + np.arange(per_owner.sum()) - first_pair[owner_of_pair]
    return owner_of_pair, position


def _simulate_accounts(config: SimulationConfig, rng: np.random.Generator) -> dict:
    n = config.accounts
    days = config.history_days
    industry = rng.choice(len(vocab.INDUSTRIES), n, p=_normalized(vocab.INDUSTRY_SHARE))
    country = rng.choice(len(vocab.COUNTRIES), n, p=_normalized(vocab.COUNTRY_SHARE))
    employees = np.minimum(np.round(20 * (1 + rng.pareto(0.8, n))), 400_000).astype(np.int64)
    revenue = np.round(employees * vocab.REVENUE_PER_EMPLOYEE[industry] * rng.lognormal(0, 0.5, n), -3)
    log_employees = np.log10(employees)
    enterprise_in_core_industry = np.isin(industry, [0, 1]) & (log_employees > 3)
    raw_fit = (
        vocab.INDUSTRY_FIT[industry]
        + 1.2 * np.exp(-(((log_employees - 2.7) / 0.9) ** 2))
        + 0.35 * np.tanh(3 * (np.log10(revenue / employees) - 5.4))
        + vocab.COUNTRY_FIT[country]
        + 0.5 * enterprise_in_core_industry
        + rng.normal(0, 0.3, n)
    )
    fit = (raw_fit - raw_fit.mean()) / raw_fit.std()
    opportunity_probability = sigmoid(
        config.process.opportunity_logit[0] + config.process.opportunity_logit[1] * fit
    )
    advance_probability = np.stack([sigmoid(a + b * fit) for a, b in config.process.advance_logits], axis=1)
    created = np.where(rng.random(n) < 0.7, rng.uniform(-1500, 0, n), rng.uniform(0, days, n))

    syllables = rng.integers(0, len(vocab.NAME_SYLLABLES), (3, n))
    third = np.where(rng.random(n) < 0.45, syllables[2], -1)
    coined = pc.utf8_capitalize(
        strings.concat(
            strings.pick(vocab.NAME_SYLLABLES, syllables[0]),
            strings.pick(vocab.NAME_SYLLABLES, syllables[1]),
            pc.fill_null(strings.pick(vocab.NAME_SYLLABLES, third), ""),
        )
    )
    industry_words = [w for words in vocab.INDUSTRY_GENERIC_WORDS for w in words]
    generic = strings.mix(
        rng,
        n,
        [
            (0.45, strings.pick(industry_words, industry * 5 + rng.integers(0, 5, n))),
            (
                0.15,
                strings.pick(vocab.GLOBAL_GENERIC_WORDS, rng.integers(0, len(vocab.GLOBAL_GENERIC_WORDS), n)),
            ),
            (0.4, None),
        ],
    )
    suffix = strings.pick_in_groups(rng, vocab.COUNTRY_LEGAL_SUFFIXES, country)
    has_suffix = rng.random(n) < 0.85
    name = pc.fill_null(strings.concat(coined, " ", generic), coined)
    name = strings.where(has_suffix, strings.concat(name, " ", suffix), name)

    with_generic = (rng.random(n) < 0.3) & pc.is_valid(generic).to_numpy(zero_copy_only=False)
    stem = pc.utf8_lower(
        strings.where(with_generic, strings.concat(coined, pc.fill_null(generic, "")), coined)
    )
    stem = pc.replace_substring(stem, " ", "")
    tld = strings.pick(vocab.COUNTRY_TLD, country)
    occurrence = strings.occurrence_number(strings.concat(stem, tld))
    number = strings.where(occurrence > 0, pc.cast(pa.array(occurrence), pa.string()), "")
    domain = strings.concat(stem, number, tld)

    website = strings.mix(
        rng,
        n,
        [
            (0.58, strings.concat("https://www.", domain)),
            (0.2, strings.concat("www.", domain)),
            (0.1, strings.concat("http://", domain, "/")),
            (0.09, domain),
            (0.03, None),
        ],
    )
    return {
        "n": n,
        "key": strings.padded_keys("ACC-", n, 7),
        "industry": industry,
        "country": country,
        "employees": employees,
        "revenue": revenue,
        "fit": fit,
        "ideal_customer_segment": enterprise_in_core_industry,
        "opportunity_probability": opportunity_probability,
        "advance_probability": advance_probability,
        "created": created,
        "name": name,
        "domain": domain,
        "website": website,
    }


def _simulate_persons(config: SimulationConfig, accounts: dict, rng: np.random.Generator) -> dict:
    n = config.n_persons
    days = config.history_days
    account = rng.choice(accounts["n"], n, p=_normalized(accounts["employees"].astype(float) ** 0.7))
    function = rng.choice(len(vocab.FUNCTIONS), n, p=_normalized(vocab.FUNCTION_SHARE))
    seniority = rng.choice(len(vocab.SENIORITIES), n, p=_normalized(vocab.SENIORITY_SHARE))
    fit = accounts["fit"][account]

    title = strings.pick_in_groups(rng, vocab.title_groups(), function * len(vocab.SENIORITIES) + seniority)
    title_noise = rng.random(n)
    title = strings.where(title_noise < 0.08, pc.utf8_lower(title), title)
    title = strings.where((title_noise >= 0.08) & (title_noise < 0.11), pc.utf8_upper(title), title)
    title = strings.where(
        (title_noise >= 0.11) & (title_noise < 0.13), strings.concat(" ", title, "  "), title
    )
    title = strings.where(title_noise >= 0.96, None, title)

    research = (
        vocab.FUNCTION_RELEVANCE[function] * vocab.SENIORITY_RESEARCH[seniority] * rng.lognormal(0, 0.4, n)
    )
    conversion_probability = sigmoid(
        config.process.conversion_intercept
        + 0.9 * fit
        + vocab.FUNCTION_CONVERSION_EFFECT[function]
        + vocab.SENIORITY_CONVERSION_EFFECT[seniority]
        + 0.4 * fit * vocab.SENIORITY_DECIDES[seniority]
        + rng.normal(0, 0.3, n)
    )
    committee_probability = np.clip(
        0.05
        + 0.45 * vocab.FUNCTION_RELEVANCE[function] * np.minimum(vocab.SENIORITY_RESEARCH[seniority], 1.0),
        0.02,
        0.6,
    )
    created = np.where(rng.random(n) < 0.35, rng.uniform(-365, 0, n), rng.uniform(0, days, n))
    background_rate = rng.lognormal(-3.3, 0.8, n)
    job_seeker = rng.random(n) < 0.03

    # 0 = linked to its account, 1 = known but unlinked, 2 = anonymous.
    link_class = rng.choice(3, n, p=[0.70, 0.25, 0.05])
    person_country = np.where(
        rng.random(n) < 0.9, accounts["country"][account], rng.choice(len(vocab.COUNTRIES), n)
    )

    first = rng.integers(0, len(vocab.FIRST_NAMES), n)
    last = rng.integers(0, len(vocab.LAST_NAMES), n)
    first_name = strings.pick(vocab.FIRST_NAMES, first)
    last_name = strings.pick(vocab.LAST_NAMES, last)
    first_lower = pc.utf8_lower(first_name)
    last_lower = pc.replace_substring_regex(pc.utf8_lower(last_name), r"[^a-z]", "")
    local_part = strings.mix(
        rng,
        n,
        [
            (0.5, strings.concat(first_lower, ".", last_lower)),
            (0.2, strings.concat(pc.utf8_slice_codeunits(first_lower, 0, 1), last_lower)),
            (0.1, first_lower),
            (0.1, strings.concat(first_lower, pc.utf8_slice_codeunits(last_lower, 0, 1))),
            (0.1, strings.concat(first_lower, "_", last_lower)),
        ],
    )
    account_domain = accounts["domain"].take(pa.array(account))
    subdomain = strings.pick(("eu.", "mail.", "us.", "corp."), rng.integers(0, 4, n))
    work_domain = strings.mix(
        rng, n, [(0.03, strings.concat(subdomain, account_domain)), (0.97, account_domain)]
    )
    work_domain = strings.drop_character(work_domain, rng.random(n) < 0.015, rng)
    free_domain = strings.pick(vocab.FREE_MAIL_DOMAINS, rng.integers(0, len(vocab.FREE_MAIL_DOMAINS), n))
    disposable_domain = strings.pick(
        vocab.DISPOSABLE_MAIL_DOMAINS, rng.integers(0, len(vocab.DISPOSABLE_MAIL_DOMAINS), n)
    )
    email = strings.mix(
        rng,
        n,
        [
            (0.78, strings.concat(local_part, "@", work_domain)),
            (0.16, strings.concat(local_part, "@", free_domain)),
            (0.01, strings.concat(local_part, "@", disposable_domain)),
            (0.05, None),
        ],
    )
    email = strings.where(rng.random(n) < 0.03, pc.utf8_upper(email), email)

    company_name = _noisy_company_names(accounts, account, rng)
    company_name = strings.where(rng.random(n) < 0.12, None, company_name)
    company_website = strings.mix(
        rng,
        n,
        [
            (0.125, strings.concat("www.", account_domain)),
            (0.05, strings.concat("https://", account_domain, "/about")),
            (0.025, strings.concat("shop.", account_domain)),
            (0.3, account_domain),
            (0.5, None),
        ],
    )

    anonymous = link_class == 2
    email = strings.where(anonymous, None, email)
    company_name = strings.where(anonymous, None, company_name)
    company_website = strings.where(anonymous, None, company_website)
    first_name = strings.where(anonymous & (rng.random(n) < 0.6), None, first_name)
    last_name = strings.where(anonymous, None, last_name)
    # Known unlinked persons carry at least one of email, company name, website.
    nothing_known = (
        ~anonymous
        & pc.is_null(email).to_numpy(zero_copy_only=False)
        & pc.is_null(company_name).to_numpy(zero_copy_only=False)
        & pc.is_null(company_website).to_numpy(zero_copy_only=False)
    )
    company_name = strings.where(nothing_known, accounts["name"].take(pa.array(account)), company_name)

    return {
        "n": n,
        "key": strings.padded_keys("P-", n, 8),
        "account": account,
        "function": function,
        "seniority": seniority,
        "research": research,
        "conversion_probability": conversion_probability,
        "committee_probability": committee_probability,
        "created": created,
        "background_rate": background_rate,
        "job_seeker": job_seeker,
        "link_class": link_class,
        "country": person_country,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "company_name": company_name,
        "company_website": company_website,
        "job_title": title,
    }


def _noisy_company_names(accounts: dict, account: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """The account's name as people type it into forms: suffixes dropped, case, abbreviations, typos."""
    n = len(account)
    name = accounts["name"].take(pa.array(account))
    noise = rng.random((5, n))
    without_suffix = pc.replace_substring_regex(
        name,
        r"\s+(Inc\.?|LLC|Corp\.?|Corporation|Ltd\.?|Limited|PLC|GmbH( & Co\. KG)?|AG|SAS|S\.A\.|SARL|"
        r"Pty Ltd|Pvt Ltd|Private Limited|B\.V\.|N\.V\.|Ltda\.|K\.K\.|Co\., Ltd\.|Pte\.? Ltd\.?|S\.L\.)$",
        "",
    )
    name = strings.where(noise[0] < 0.45, without_suffix, name)
    abbreviated = pc.replace_substring(
        pc.replace_substring(pc.replace_substring(name, "Technologies", "Tech"), "International", "Intl"),
        "Solutions",
        "Sol.",
    )
    name = strings.where(noise[1] < 0.3, abbreviated, name)
    name = strings.where(noise[2] < 0.04, strings.concat("The ", name), name)
    name = strings.where(
        noise[3] < 0.1, pc.utf8_lower(name), strings.where(noise[3] > 0.97, pc.utf8_upper(name), name)
    )
    return strings.swap_adjacent_characters(name, noise[4] < 0.05, rng)


def _simulate_episodes(config: SimulationConfig, accounts: dict, rng: np.random.Generator) -> dict:
    p = config.process
    n = accounts["n"]
    rate = p.episodes_per_year / 365.0 * np.exp(p.episode_fit_slope * accounts["fit"])
    earliest = -(
        p.committee_offset_days + p.journey_max_days + 4 * p.stage_max_days + p.opportunity_open_max_days
    )
    # Companies go in market whether or not they are in the CRM yet: no bound by created date.
    account, start = _poisson_starts(
        rng, config, rate, np.full(n, float(earliest)), np.full(n, float(config.history_days))
    )
    order = np.lexsort((start, account))
    account, start = account[order], start[order]
    m = len(account)
    open_offset = rng.integers(p.opportunity_open_min_days, p.opportunity_open_max_days + 1, m)
    stage_days = rng.integers(p.stage_min_days, p.stage_max_days + 1, (m, 4))
    return {
        "n": m,
        "account": account,
        "start": start,
        "rate": rate,
        "has_opportunity": rng.random(m) < accounts["opportunity_probability"][account],
        "advances": rng.random((m, 4)) < accounts["advance_probability"][account],
        "open": start + open_offset,
        "stage_days": stage_days,
    }


def _simulate_journeys(
    config: SimulationConfig, persons: dict, episodes: dict, rng: np.random.Generator
) -> dict:
    p = config.process
    n = persons["n"]
    earliest = -float(p.journey_max_days)
    own_person, own_start = _poisson_starts(
        rng,
        config,
        p.independent_journeys_per_year / 365.0 * persons["research"],
        np.maximum(persons["created"], earliest),
        np.full(n, float(config.history_days)),
    )

    member_order, member_start, member_count = _group_offsets(persons["account"], config.accounts)
    episode_of_pair, position = _ragged_pairs(member_start, member_count, episodes["account"])
    candidate = member_order[position]
    joins = rng.random(len(candidate)) < persons["committee_probability"][candidate]
    committee_episode = episode_of_pair[joins]
    committee_person = candidate[joins]
    committee_start = episodes["start"][committee_episode] + rng.integers(
        0, p.committee_offset_days, len(committee_person)
    )
    exists = persons["created"][committee_person] <= committee_start
    committee_episode, committee_person, committee_start = (
        committee_episode[exists],
        committee_person[exists],
        committee_start[exists],
    )

    person = np.r_[own_person, committee_person]
    start = np.r_[own_start, committee_start]
    episode = np.r_[np.full(len(own_person), -1), committee_episode]
    duration = rng.integers(p.journey_min_days, p.journey_max_days + 1, len(person))
    # A journey ends (and its lead converts) during business hours of the day it reaches.
    end = _business_hours(rng, start + duration)
    converts = rng.random(len(person)) < persons["conversion_probability"][person]
    keep = end >= 0
    journeys = {
        "person": person[keep],
        "start": start[keep],
        "end": end[keep],
        "episode": episode[keep],
        "converts": converts[keep],
    }
    journeys["n"] = int(keep.sum())
    journeys["intensity"] = (
        0.22 * np.sqrt(persons["research"][journeys["person"]]) * rng.lognormal(0, 0.3, journeys["n"])
    )
    return journeys


def _crm_account_created(accounts: dict, persons: dict, episodes: dict) -> np.ndarray:
    """An account enters the CRM no later than its first linked contact or opportunity."""
    created = accounts["created"].copy()
    linked = persons["link_class"] == 0
    np.minimum.at(created, persons["account"][linked], persons["created"][linked])
    opened = episodes["has_opportunity"]
    np.minimum.at(created, episodes["account"][opened], episodes["open"][opened])
    return created


def _first_conversions(config: SimulationConfig, persons: dict, journeys: dict) -> np.ndarray:
    """Each person's first lead conversion day inside the history (NaN when none)."""
    converted_at = np.full(persons["n"], np.inf)
    successful = journeys["converts"] & (journeys["end"] < config.history_days)
    np.minimum.at(converted_at, journeys["person"][successful], journeys["end"][successful])
    converted_at[np.isinf(converted_at)] = np.nan
    return converted_at


@dataclass
class _EventBatch:
    person: np.ndarray
    day: np.ndarray
    event_type: np.ndarray
    url: np.ndarray
    campaign: np.ndarray
    asset: np.ndarray


URLS: tuple[str, ...] = tuple(
    dict.fromkeys(vocab.HIGH_INTENT_PAGES + vocab.RESEARCH_PAGES + vocab.GENERAL_PAGES + vocab.CUSTOMER_PAGES)
)
ASSETS: tuple[str, ...] = (
    vocab.HIGH_INTENT_FORMS + vocab.RESEARCH_ASSETS + vocab.GENERAL_ASSETS + vocab.WEBINARS
)
_URL_INDEX = {u: i for i, u in enumerate(URLS)}
_ASSET_INDEX = {a: i for i, a in enumerate(ASSETS)}
_TYPE_INDEX = {t: i for i, t in enumerate(contract.EVENT_TYPES)}


def _draw_activity(
    rng: np.random.Generator,
    kinds: list[tuple[float, str, tuple[str, ...], tuple[str, ...] | None]],
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw n events from a mix of (share, event type, urls, assets or None for campaigns)."""
    shares = _normalized(np.array([k[0] for k in kinds]))
    kind = np.minimum(np.searchsorted(np.cumsum(shares), rng.random(n)), len(kinds) - 1)

    def lookup(options_per_kind: list[list[int]]) -> np.ndarray:
        width = max(1, *(len(o) for o in options_per_kind))
        table = np.full((len(kinds), width), -1, dtype=np.int16)
        for k, options in enumerate(options_per_kind):
            table[k, : len(options)] = options
        count = np.array([max(len(o), 1) for o in options_per_kind])
        return table[kind, (rng.random(n) * count[kind]).astype(np.int64)]

    event_type = np.array([_TYPE_INDEX[k[1]] for k in kinds], dtype=np.int16)[kind]
    url = lookup([[_URL_INDEX[u] for u in k[2]] for k in kinds])
    campaign = lookup([list(range(len(vocab.CAMPAIGNS))) if k[3] is None else [] for k in kinds])
    asset = lookup([[_ASSET_INDEX[a] for a in k[3]] if k[3] else [] for k in kinds])
    return event_type, url, campaign, asset


BACKGROUND_MIX = [
    (0.34, contract.EMAIL_SENT, (), None),
    (0.15, contract.EMAIL_OPENED, (), None),
    (0.03, contract.EMAIL_CLICKED, (), None),
    (0.36, contract.PAGE_VIEW, vocab.GENERAL_PAGES, ()),
    (0.06, contract.PAGE_VIEW, vocab.RESEARCH_PAGES, ()),
    (0.01, contract.PAGE_VIEW, vocab.HIGH_INTENT_PAGES, ()),
    (0.02, contract.FORM_FILLED, ("/newsletter",), ("Newsletter Signup",)),
    (0.02, contract.CONTENT_DOWNLOADED, ("/resources/roi-guide",), vocab.GENERAL_ASSETS),
    (0.01, contract.WEBINAR_ATTENDED, ("/webinars",), vocab.WEBINARS),
]
RESEARCH_MIX = [
    (0.45, contract.PAGE_VIEW, vocab.RESEARCH_PAGES, ()),
    (0.22, contract.EMAIL_OPENED, (), None),
    (0.10, contract.EMAIL_CLICKED, (), None),
    (0.10, contract.CONTENT_DOWNLOADED, ("/resources/roi-guide",), vocab.RESEARCH_ASSETS),
    (0.08, contract.WEBINAR_ATTENDED, ("/webinars",), vocab.WEBINARS),
    (0.05, contract.PAGE_VIEW, vocab.GENERAL_PAGES, ()),
]
HIGH_INTENT_MIX = [
    (0.55, contract.PAGE_VIEW, vocab.HIGH_INTENT_PAGES, ()),
    (0.10, contract.FORM_FILLED, ("/demo", "/contact-sales"), vocab.HIGH_INTENT_FORMS),
    (0.08, contract.WEBINAR_ATTENDED, ("/webinars",), ("Product Tour Live",)),
    (0.12, contract.CONTENT_DOWNLOADED, ("/resources/roi-guide",), vocab.RESEARCH_ASSETS),
    (0.15, contract.EMAIL_CLICKED, (), None),
]
FIRST_TOUCH_MIX = [
    (0.8, contract.PAGE_VIEW, vocab.RESEARCH_PAGES, ()),
    (0.2, contract.CONTENT_DOWNLOADED, ("/resources/roi-guide",), vocab.RESEARCH_ASSETS),
]
CUSTOMER_MIX = [
    (0.6, contract.PAGE_VIEW, vocab.CUSTOMER_PAGES, ()),
    (0.3, contract.EMAIL_OPENED, (), None),
    (0.1, contract.WEBINAR_ATTENDED, ("/webinars",), vocab.WEBINARS),
]


def _background_events(config: SimulationConfig, persons: dict, rng: np.random.Generator) -> _EventBatch:
    active_from = np.maximum(persons["created"], 0.0)
    span = np.maximum(config.history_days - active_from, 0.0)
    counts = rng.poisson(persons["background_rate"] * span)
    person = np.repeat(np.arange(persons["n"]), counts)
    day = active_from[person] + rng.random(len(person)) * span[person]
    event_type, url, campaign, asset = _draw_activity(rng, BACKGROUND_MIX, len(person))
    seeker_counts = rng.poisson(np.where(persons["job_seeker"], 0.05 * span, 0.0))
    seeker = np.repeat(np.arange(persons["n"]), seeker_counts)
    seeker_day = active_from[seeker] + rng.random(len(seeker)) * span[seeker]
    n_seeker = len(seeker)
    return _EventBatch(
        person=np.r_[person, seeker],
        day=np.r_[day, seeker_day],
        event_type=np.r_[event_type, np.full(n_seeker, _TYPE_INDEX[contract.PAGE_VIEW], np.int16)],
        url=np.r_[url, np.full(n_seeker, _URL_INDEX[vocab.CAREERS_PAGE], np.int16)],
        campaign=np.r_[campaign, np.full(n_seeker, -1, np.int16)],
        asset=np.r_[asset, np.full(n_seeker, -1, np.int16)],
    )


def _journey_events(journeys: dict, rng: np.random.Generator) -> tuple[_EventBatch, _EventBatch, np.ndarray]:
    """A journey's engagement: its first touch (a research page view or download on the day it
    starts, how a buyer's research shows up first), then events whose density grows towards the
    end, where engagement accelerates. Returns (first touches, the rest, the journey of each of
    the rest)."""
    first_touch = _EventBatch(
        journeys["person"], journeys["start"], *_draw_activity(rng, FIRST_TOUCH_MIX, journeys["n"])
    )
    duration = journeys["end"] - journeys["start"]
    counts = rng.poisson(journeys["intensity"] * duration)
    journey = np.repeat(np.arange(journeys["n"]), counts)
    # Density 0.5 + progress (progress 0 at the start, 1 at the end): engagement starts at a
    # steady pace and accelerates towards the end.
    uniform = rng.random(len(journey))
    progress = np.where(rng.random(len(journey)) < 0.5, uniform, np.sqrt(uniform))
    day = journeys["start"][journey] + progress * duration[journey]
    high_intent = rng.random(len(journey)) < 0.08 + 0.55 * progress**2
    event_type = np.empty(len(journey), np.int16)
    url, campaign, asset = (np.empty(len(journey), np.int16) for _ in range(3))
    for mask, mix in ((high_intent, HIGH_INTENT_MIX), (~high_intent, RESEARCH_MIX)):
        event_type[mask], url[mask], campaign[mask], asset[mask] = _draw_activity(rng, mix, int(mask.sum()))
    rest = _EventBatch(journeys["person"][journey], day, event_type, url, campaign, asset)
    return first_touch, rest, journey


def _customer_events(converted_at: np.ndarray, rng: np.random.Generator) -> _EventBatch:
    converted = np.flatnonzero(~np.isnan(converted_at))
    counts = rng.poisson(6, len(converted))
    person = np.repeat(converted, counts)
    day = converted_at[person] + rng.exponential(20.0, len(person))
    return _EventBatch(person, day, *_draw_activity(rng, CUSTOMER_MIX, len(person)))


def _lead_operation_events(persons: dict, converted_at: np.ndarray) -> _EventBatch:
    new = np.flatnonzero(persons["created"] >= 0)
    converted = np.flatnonzero(~np.isnan(converted_at))
    n = len(new) + len(converted)
    return _EventBatch(
        person=np.r_[new, converted],
        day=np.r_[persons["created"][new], converted_at[converted]],
        event_type=np.r_[
            np.full(len(new), _TYPE_INDEX[contract.NEW_LEAD], np.int16),
            np.full(len(converted), _TYPE_INDEX[contract.CONVERT_LEAD], np.int16),
        ],
        url=np.full(n, -1, np.int16),
        campaign=np.full(n, -1, np.int16),
        asset=np.full(n, -1, np.int16),
    )


def _experience_events(
    config: SimulationConfig,
    persons: dict,
    journeys: dict,
    converted_at: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pa.Table, pa.Table]:
    """The experience events table, and the engagement of each journey as it happened (before
    tracking gaps and the move to business hours), which only the oracle reads."""
    first_touch, journey_events, journey = _journey_events(journeys, rng)
    activity = [
        _background_events(config, persons, rng),
        journey_events,
        _customer_events(converted_at, rng),
    ]

    def in_history(person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Inside the simulated days and not before the person exists."""
        return (day >= np.maximum(persons["created"][person], 0.0)) & (day < config.history_days)

    person = np.concatenate([b.person for b in activity])
    day = _business_hours(rng, np.concatenate([b.day for b in activity]))
    keep = in_history(person, day) & (
        rng.random(len(day))
        < weekday_activity(config.start_date, day) * month_activity(config.start_date, day)
    )
    # A journey's first touch is always recorded, on its start day (weekends too).
    touch_day = _business_hours(rng, first_touch.day)
    touch_keep = in_history(first_touch.person, touch_day)
    operations = _lead_operation_events(persons, converted_at)
    batches = [*activity, first_touch, operations]
    person = np.r_[person, first_touch.person, operations.person]
    day = np.r_[day, touch_day, operations.day]
    keep = np.r_[keep, touch_keep, np.ones(len(operations.person), bool)]
    person, day = person[keep], day[keep]
    event_type = np.concatenate([b.event_type for b in batches])[keep]
    url = np.concatenate([b.url for b in batches])[keep]
    campaign = np.concatenate([b.campaign for b in batches])[keep]
    asset = np.concatenate([b.asset for b in batches])[keep]

    order = np.argsort(day, kind="stable")
    person, day, event_type, url, campaign, asset = (
        a[order] for a in (person, day, event_type, url, campaign, asset)
    )
    converted_status = np.where(event_type == _TYPE_INDEX[contract.CONVERT_LEAD], 0, -1)
    in_simulated_days = journey_events.day < config.history_days
    engagement = pa.table(
        {
            "journey_id": pa.array(journey[in_simulated_days]),
            "day": pa.array(journey_events.day[in_simulated_days]),
        }
    )
    table = pa.table(
        {
            "event_id": strings.padded_keys("EV-", len(person), 9),
            "person_key": persons["key"].take(pa.array(person)),
            "timestamp": _to_timestamps(config, day),
            "event_type": strings.encoded(contract.EVENT_TYPES, event_type),
            "web_url": strings.encoded([f"https://www.example-vendor.com{u}" for u in URLS], url),
            "campaign": strings.encoded(vocab.CAMPAIGNS, campaign),
            "asset_name": strings.encoded(ASSETS, asset),
            "converted_status": strings.encoded(("Converted",), converted_status),
        }
    )
    return table, engagement


def _opportunity_events(
    config: SimulationConfig,
    accounts: dict,
    persons: dict,
    episodes: dict,
    journeys: dict,
    rng: np.random.Generator,
) -> tuple[pa.Table, pa.Array]:
    """Stage history of the opportunities opened by in-market episodes; also each episode's
    opportunity key (null when none opened)."""
    with_opportunity = np.flatnonzero(episodes["has_opportunity"] & (episodes["open"] < config.history_days))
    m = len(with_opportunity)
    opportunity_key = strings.padded_keys("OPP-", m, 7)
    episode_opportunity = np.full(episodes["n"], -1)
    episode_opportunity[with_opportunity] = np.arange(m)

    stage_times = (
        episodes["open"][with_opportunity, None]
        + np.c_[np.zeros(m), np.cumsum(episodes["stage_days"][with_opportunity], axis=1)]
    )
    advances = episodes["advances"][with_opportunity]
    still_open = np.c_[np.ones(m, bool), np.cumprod(advances, axis=1).astype(bool)]
    reached_before = np.c_[np.ones(m, bool), still_open[:, :-1]]
    # Transition k (0..4): Prospecting, Qualification, Proposal, Contract, Closed Won, or Closed Lost
    # when the opportunity was open before k and did not advance.
    stage_names = ("Prospecting", "Qualification", "Proposal", "Contract", "Closed Won")
    happens = reached_before & (stage_times >= 0) & (stage_times < config.history_days)
    new_stage = np.where(still_open, np.arange(5)[None, :], 5)
    old_stage = np.broadcast_to(np.arange(-1, 4)[None, :], (m, 5))
    opp_index, transition = np.nonzero(happens)
    all_stages = (*stage_names, "Closed Lost")

    # Contact role: the most senior committee member of the episode who is a CRM contact.
    in_committee = (journeys["episode"] >= 0) & (persons["link_class"][journeys["person"]] == 0)
    members = journeys["person"][in_committee]
    member_episode = journeys["episode"][in_committee]
    order = np.lexsort((persons["seniority"][members], member_episode))
    first_episode, first_index = np.unique(member_episode[order], return_index=True)
    contact = np.full(episodes["n"], -1)
    contact[first_episode] = members[order][first_index]
    opportunity_contact = contact[with_opportunity]

    employees = accounts["employees"][episodes["account"][with_opportunity]]
    amount = np.round(5000 * employees**0.45 * rng.lognormal(0, 0.4, m), -2)
    contact_index = opportunity_contact[opp_index]
    account_index = episodes["account"][with_opportunity][opp_index]
    order = np.lexsort((transition, stage_times[opp_index, transition]))
    opp_index, transition, contact_index, account_index = (
        a[order] for a in (opp_index, transition, contact_index, account_index)
    )
    table = pa.table(
        {
            "event_id": strings.padded_keys("OE-", len(opp_index), 8),
            "opportunity_key": opportunity_key.take(pa.array(opp_index)),
            "account_key": accounts["key"].take(pa.array(account_index)),
            "timestamp": _to_timestamps(config, stage_times[opp_index, transition]),
            "attribute_name": pa.array(np.full(len(opp_index), contract.STAGE_ATTRIBUTE), pa.string()),
            "new_value": strings.pick(all_stages, new_stage[opp_index, transition]),
            "old_value": strings.pick(all_stages, old_stage[opp_index, transition]),
            "person_key": persons["key"].take(
                pa.array(np.where(contact_index < 0, 0, contact_index), mask=contact_index < 0)
            ),
            "amount": pa.array(amount[opp_index]),
        }
    )
    episode_key = opportunity_key.take(
        pa.array(np.maximum(episode_opportunity, 0), mask=episode_opportunity < 0)
    )
    return table, episode_key


def _intent_signals(
    config: SimulationConfig, accounts: dict, episodes: dict, rng: np.random.Generator
) -> pa.Table:
    p = config.process
    first_monday = (7 - (np.datetime64(config.start_date, "D").astype("int64") + 3) % 7) % 7
    mondays = np.arange(first_monday, config.history_days, 7)
    weeks = len(mondays)
    topics = vocab.PRODUCT_TOPICS + vocab.OTHER_TOPICS

    counts = rng.poisson(0.06 * weeks, accounts["n"])
    noise_account = np.repeat(np.arange(accounts["n"]), counts)
    noise_day = mondays[rng.integers(0, weeks, len(noise_account))]
    noise_topic = np.where(
        rng.random(len(noise_account)) < 0.2,
        rng.integers(0, len(vocab.PRODUCT_TOPICS), len(noise_account)),
        len(vocab.PRODUCT_TOPICS) + rng.integers(0, len(vocab.OTHER_TOPICS), len(noise_account)),
    )
    noise_intensity = rng.uniform(5, 45, len(noise_account))

    span_weeks = (p.intent_lead_days + p.intent_after_days) // 7
    episode = np.repeat(np.arange(episodes["n"]), span_weeks)
    week = np.tile(np.arange(span_weeks), episodes["n"])
    day = episodes["start"][episode] - p.intent_lead_days + 7 * week
    day = day - (day - first_monday) % 7  # that week's Monday
    relative = day - episodes["start"][episode]
    ramp = np.clip((relative + p.intent_lead_days) / (p.intent_lead_days + 30), 0, 1) * np.exp(
        -np.maximum(relative - 30, 0) / 45
    )
    preferred_topic = rng.integers(0, len(vocab.PRODUCT_TOPICS), episodes["n"])[episode]
    second_topic = rng.integers(0, len(vocab.PRODUCT_TOPICS), len(episode))
    topic = np.where(rng.random(len(episode)) < 0.65, preferred_topic, second_topic)
    signal = rng.random(len(episode)) < 0.85
    intensity = np.clip(30 + 60 * ramp + rng.normal(0, 10, len(episode)), 0, 100)

    account = np.r_[noise_account, episodes["account"][episode][signal]]
    day = np.r_[noise_day, day[signal]].astype(np.int64)
    topic = np.r_[noise_topic, topic[signal]]
    intensity = np.r_[noise_intensity, intensity[signal]]
    provider = rng.integers(0, len(vocab.INTENT_PROVIDERS), len(account))
    inside = (day >= 0) & (day < config.history_days)
    account, day, topic, intensity, provider = (a[inside] for a in (account, day, topic, intensity, provider))

    # One signal per account, topic, week and provider: keep the strongest.
    order = np.lexsort((-intensity, provider, topic, day, account))
    account, day, topic, intensity, provider = (a[order] for a in (account, day, topic, intensity, provider))
    first = np.r_[
        True, (np.diff(account) != 0) | (np.diff(day) != 0) | (np.diff(topic) != 0) | (np.diff(provider) != 0)
    ]
    account, day, topic, intensity, provider = (a[first] for a in (account, day, topic, intensity, provider))
    order = np.lexsort((account, day))
    account, day, topic, intensity, provider = (a[order] for a in (account, day, topic, intensity, provider))

    has_key = rng.random(len(account)) < 0.3
    start_day = np.datetime64(config.start_date, "D").astype("int64")
    return pa.table(
        {
            "account_key": accounts["key"].take(pa.array(account, mask=~has_key)),
            "domain": accounts["domain"].take(pa.array(account)),
            "topic": strings.pick(topics, topic),
            "signal_date": pa.array((start_day + day).astype("int32"), pa.date32()),
            "intensity": pa.array(np.round(intensity, 1)),
            "provider": strings.pick(vocab.INTENT_PROVIDERS, provider),
        }
    )


def _sales_dispositions(
    config: SimulationConfig,
    persons: dict,
    journeys: dict,
    converted_at: np.ndarray,
    rng: np.random.Generator,
) -> pa.Table:
    person = journeys["person"]
    is_conversion = journeys["converts"] & (journeys["end"] == converted_at[person])
    worked = is_conversion | (~journeys["converts"] & (rng.random(journeys["n"]) < 0.35))
    disposition = np.where(is_conversion, 0, rng.choice([1, 2, 3], journeys["n"], p=[0.4, 0.25, 0.35]))
    delay = np.where(is_conversion, rng.uniform(0.05, 3, journeys["n"]), rng.uniform(0.5, 5, journeys["n"]))
    day = journeys["end"] + delay
    keep = worked & (day >= 0) & (day < config.history_days)
    person, disposition, day = person[keep], disposition[keep], day[keep]
    order = np.lexsort((person, day))
    person, disposition, day = person[order], disposition[order], day[order]
    reason_groups = [vocab.DISPOSITION_REASONS[d] for d in contract.DISPOSITIONS]
    return pa.table(
        {
            "person_key": persons["key"].take(pa.array(person)),
            "disposition": strings.pick(contract.DISPOSITIONS, disposition),
            "timestamp": _to_timestamps(config, day),
            "reason": strings.pick_in_groups(rng, reason_groups, disposition),
        }
    )


def _contract_tables(config: SimulationConfig, accounts: dict, persons: dict) -> dict[str, pa.Table]:
    linked = persons["link_class"] == 0
    account_created = np.minimum(accounts["created"], config.history_days - 1)
    return {
        "accounts": pa.table(
            {
                "account_key": accounts["key"],
                "created_at": _to_timestamps(config, np.maximum(account_created, -3000)),
                "account_name": accounts["name"],
                "website": accounts["website"],
                "industry": strings.pick(vocab.INDUSTRIES, accounts["industry"]),
                "number_of_employees": pa.array(accounts["employees"]),
                "annual_revenue": pa.array(accounts["revenue"]),
                "country": strings.pick(vocab.COUNTRIES, accounts["country"]),
            }
        ),
        "persons": pa.table(
            {
                "person_key": persons["key"],
                "created_at": _to_timestamps(config, persons["created"]),
                "account_key": accounts["key"].take(pa.array(persons["account"], mask=~linked)),
                "email": persons["email"],
                "first_name": persons["first_name"],
                "last_name": persons["last_name"],
                "company_name": persons["company_name"],
                "company_website": persons["company_website"],
                "job_title": persons["job_title"],
                "country": strings.pick(vocab.COUNTRIES, persons["country"]),
            }
        ),
    }


LINK_CLASSES = ("account_person", "known_unlinked", "anonymous")


def _truth_tables(
    config: SimulationConfig,
    accounts: dict,
    persons: dict,
    episodes: dict,
    journeys: dict,
    converted_at: np.ndarray,
    episode_opportunity: pa.Array,
    journey_engagement: pa.Table,
) -> dict[str, pa.Table]:
    converted = ~np.isnan(converted_at)
    stage_times = (
        episodes["open"][:, None] + np.c_[np.zeros(episodes["n"]), np.cumsum(episodes["stage_days"], axis=1)]
    )
    return {
        "meta": pa.table(
            {
                "seed": [config.seed],
                "start_date": pa.array([config.start_date], pa.date32()),
                "end_date": pa.array([config.end_date], pa.date32()),
                "history_days": [config.history_days],
                "n_persons": [config.n_persons],
                "n_accounts": [config.accounts],
                "process": [json.dumps(dataclasses.asdict(config.process))],
            }
        ),
        "accounts": pa.table(
            {
                "account_key": accounts["key"],
                "domain": accounts["domain"],
                "created_day": pa.array(accounts["created"]),
                "fit": pa.array(accounts["fit"]),
                "ideal_customer_segment": pa.array(accounts["ideal_customer_segment"]),
                "episodes_per_day": pa.array(episodes["rate"]),
                "opportunity_probability": pa.array(accounts["opportunity_probability"]),
                **{
                    f"advance_probability_{k + 1}": pa.array(accounts["advance_probability"][:, k])
                    for k in range(accounts["advance_probability"].shape[1])
                },
            }
        ),
        "persons": pa.table(
            {
                **_link_truth(accounts, persons),
                "function": strings.pick(vocab.FUNCTIONS, persons["function"]),
                "seniority": strings.pick(vocab.SENIORITIES, persons["seniority"]),
                "conversion_probability": pa.array(persons["conversion_probability"]),
                "own_journeys_per_day": pa.array(
                    config.process.independent_journeys_per_year / 365.0 * persons["research"]
                ),
                "committee_probability": pa.array(persons["committee_probability"]),
                "created_day": pa.array(persons["created"]),
                "converted_day": pa.array(np.where(converted, converted_at, np.nan), mask=~converted),
            }
        ),
        "journeys": pa.table(
            {
                "journey_id": pa.array(np.arange(journeys["n"])),
                "person_key": persons["key"].take(pa.array(journeys["person"])),
                "episode_id": pa.array(journeys["episode"], mask=journeys["episode"] < 0),
                "start_day": pa.array(journeys["start"]),
                "end_day": pa.array(journeys["end"]),
                "converts": pa.array(journeys["converts"]),
                "intensity": pa.array(journeys["intensity"]),
            }
        ),
        "journey_events": journey_engagement,
        "episodes": pa.table(
            {
                "episode_id": pa.array(np.arange(episodes["n"])),
                "account_key": accounts["key"].take(pa.array(episodes["account"])),
                "start_day": pa.array(episodes["start"]),
                "has_opportunity": pa.array(episodes["has_opportunity"]),
                "opportunity_key": episode_opportunity,
                **{f"stage_{k}_day": pa.array(stage_times[:, k]) for k in range(5)},
                **{f"advances_{k + 1}": pa.array(episodes["advances"][:, k]) for k in range(4)},
            }
        ),
    }


def _link_truth(accounts: dict, persons: dict) -> dict[str, pa.Array]:
    return {
        "person_key": persons["key"],
        "true_account_key": accounts["key"].take(pa.array(persons["account"])),
        "link_class": strings.pick(LINK_CLASSES, persons["link_class"]),
    }


def _profiles(config: SimulationConfig) -> tuple[list[np.random.Generator], dict, dict]:
    """The world's random streams, one per stage, and its accounts and persons."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(8)]
    accounts = _simulate_accounts(config, rngs[0])
    return rngs, accounts, _simulate_persons(config, accounts, rngs[1])


def simulate_profiles(config: SimulationConfig) -> World:
    """Only the persons and accounts tables of the world of `config` (the same rows as
    `simulate_world`, except account creation dates, which follow the activity there), with the
    true account and link class of every person and the accounts' fit and planted ideal customer
    segment: for lead-to-account matching and look-alikes at any size."""
    _, accounts, persons = _profiles(config)
    tables = _contract_tables(config, accounts, persons)
    tables = {name: table.select(contract.CONTRACTS[name].column_names) for name, table in tables.items()}
    truth = {
        "persons": pa.table(_link_truth(accounts, persons)),
        "accounts": pa.table(
            {
                "account_key": accounts["key"],
                "fit": pa.array(accounts["fit"]),
                "ideal_customer_segment": pa.array(accounts["ideal_customer_segment"]),
            }
        ),
    }
    return World(config=config, tables=tables, truth=truth)


def simulate_world(config: SimulationConfig, progress: Progress | None = None) -> World:
    """Simulate the whole world for config; deterministic for a given config."""
    report = progress or (lambda message: None)
    rngs, accounts, persons = _profiles(config)
    report(f"{accounts['n']:,} accounts and {persons['n']:,} persons")
    episodes = _simulate_episodes(config, accounts, rngs[2])
    journeys = _simulate_journeys(config, persons, episodes, rngs[3])
    converted_at = _first_conversions(config, persons, journeys)
    accounts["created"] = _crm_account_created(accounts, persons, episodes)
    report(f"{episodes['n']:,} in-market episodes, {journeys['n']:,} buying journeys")
    events, journey_engagement = _experience_events(config, persons, journeys, converted_at, rngs[4])
    report(f"{events.num_rows:,} experience events")
    opportunity_events, episode_opportunity = _opportunity_events(
        config, accounts, persons, episodes, journeys, rngs[5]
    )
    intent = _intent_signals(config, accounts, episodes, rngs[6])
    dispositions = _sales_dispositions(config, persons, journeys, converted_at, rngs[7])
    report(
        f"{opportunity_events.num_rows:,} opportunity events, {intent.num_rows:,} intent signals, "
        f"{dispositions.num_rows:,} sales dispositions"
    )
    tables = {
        **_contract_tables(config, accounts, persons),
        "experience_events": events,
        "opportunity_events": opportunity_events,
        "intent_signals": intent,
        "sales_dispositions": dispositions,
    }
    tables = {name: tables[name].select(contract.CONTRACTS[name].column_names) for name in contract.CONTRACTS}
    truth = _truth_tables(
        config, accounts, persons, episodes, journeys, converted_at, episode_opportunity, journey_engagement
    )
    return World(config=config, tables=tables, truth=truth)
