"""A lead-to-account matching test set built on the real Fortune 1000 (2021 list).

The accounts are the list's 1,000 companies as the list gives them. The persons are invented
leads whose company details are typed the way people type them, and every person has ground
truth. The test set measures a matcher that links persons to accounts by the registrable domain
of the work e-mail, the registrable domain of the person's company website, company-name
similarity and country:
- linked persons (~35%) carry their account_key: the labelled examples a matcher learns from;
- unlinked persons (~55%) work at a listed company but carry no account_key: what it must find;
- decoys (~10%) work at invented companies that are not in the list, many of them near misses
  that share a first word or a generic word with a listed company ("Delta Plumbing" next to
  "Delta Air Lines", "Summit Energy Partners"): what it must leave unmatched.

Hazards that come with the list: websites that are investor or corporate subdomains or carry a
path (https://www.stock.walmart.com, https://investors.bestbuy.com/investor-relations/...),
domains unlike the name (Raytheon Technologies -> rtx.com), a regional site taken for the mail
domain (Cummins -> cumminseurope.com), two accounts sharing a domain (Concho Resources ->
conocophillips.com), HTML entities in names ("McDonald&#8217;s") and Fortune's abbreviations
("Travelers Cos."). Hazards added on the persons, for linked and unlinked persons alike:
- company_name (~15% missing): exact, legal suffix added, Fortune forms expanded or dropped,
  "&" <-> "and", a leading "The", abbreviations (Intl, Tech, ...), the alias in parentheses
  ("JLL"), punctuation and accents dropped; on top, ~5% lower case, ~3% upper case, ~3% typos;
- email: first.last / flast / first at the company's domain (~6% of those at a mail subdomain),
  ~20% free mail, ~1% disposable, ~5% missing, ~3% upper case;
- company_website (~40% given): www.x.com, https://x.com/about, x.com, careers.x.com, ...;
- country: ~8% outside the United States, where all accounts are.
Every person is identifiable: with neither a work e-mail nor a website, the company name is kept.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from b2b_scoring.lib.simulator import strings

KINDS: tuple[str, ...] = ("linked", "unlinked", "decoy")
LINKED, UNLINKED, DECOY = range(len(KINDS))
KIND_SHARES = np.array([0.35, 0.55, 0.10])

ACCOUNT_KEY_PREFIX = "F1000-"
ACCOUNT_COUNTRY = "United States"
FOREIGN_COUNTRIES: tuple[str, ...] = ("Canada", "United Kingdom", "Germany", "India")
FOREIGN_SHARE = 0.08
# Bigger companies have more leads, but not in proportion (Walmart is not 40,000 times a
# 51-employee company in a CRM).
EMPLOYEES_WEIGHT_EXPONENT = 0.3
PERSONS_PER_DECOY_COMPANY = 5

# Leading host labels of the list's websites that name a site, not the company's mail domain
# ("https://www.stock.walmart.com" -> "walmart.com").
SITE_HOST_LABELS = frozenset(
    {"www", "www8", "ww", "investor", "investors", "ir", "corporate", "stock", "shop", "usa", "us"}
)

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Susan",
    "William", "Karen", "Richard", "Nancy", "Thomas", "Lisa", "Daniel", "Emily", "Matthew", "Ashley",
    "Priya", "Raj", "Wei", "Mei", "Carlos", "Maria", "Ahmed", "Fatima", "Lukas", "Anna",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Lee", "Harris", "Clark",
    "Lewis", "Walker", "Young", "Patel", "Shah", "Chen", "Wang", "Nguyen", "Kim", "Mueller", "Schmidt",
)  # fmt: skip
JOB_TITLES: tuple[str, ...] = (
    "Chief Information Officer", "VP of Sales", "VP Marketing", "Director of IT", "IT Manager",
    "Head of Procurement", "Marketing Manager", "Sales Operations Manager", "Data Engineer",
    "Software Engineer", "Business Analyst", "Account Executive", "Controller", "HR Business Partner",
    "Operations Director",
)  # fmt: skip

FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com",
)  # fmt: skip
DISPOSABLE_MAIL_DOMAIN = "mailinator.com"
MAIL_SUBDOMAINS: tuple[str, ...] = ("mail.", "us.", "corp.")
MAIL_SUBDOMAIN_SHARE = 0.06
# Where a person's e-mail address is: at the company, at a free-mail or a disposable provider, or none.
EMAIL_SOURCES: tuple[str, ...] = ("work", "free", "disposable", "missing")
WORK_EMAIL, FREE_EMAIL, DISPOSABLE_EMAIL, NO_EMAIL = range(len(EMAIL_SOURCES))
EMAIL_SOURCE_SHARES = np.array([0.74, 0.20, 0.01, 0.05])
UPPER_CASE_EMAIL_SHARE = 0.03
# Free-mail addresses are taken, so people add a number to theirs.
FREE_MAIL_NUMBER_SHARE = 0.5

COMPANY_WEBSITE_SHARE = 0.40
# (prefix, suffix) around the company's domain.
COMPANY_WEBSITE_FORMS: tuple[tuple[str, str], ...] = (
    ("www.", ""), ("https://", "/about"), ("", ""), ("careers.", ""), ("https://www.", "/"), ("http://", ""),
)  # fmt: skip

MISSING_COMPANY_NAME_SHARE = 0.15
LOWER_CASE_NAME_SHARE = 0.05
UPPER_CASE_NAME_SHARE = 0.03
TYPO_SHARE = 0.03
LEGAL_SUFFIXES: tuple[str, ...] = (
    ", Inc.",
    " Inc.",
    " Inc",
    " Corporation",
    " Corp.",
    " LLC",
    " Co.",
    " Company",
)
# A name ending in one of these already has a legal form; another one is not added.
LEGAL_FORM_WORDS = frozenset({"Cos.", "Corp.", "Co.", "Company", "Companies", "Corporation", "Inc.", "LLC"})
FORTUNE_FORMS: dict[str, str] = {
    "Cos.": "Companies",
    "Corp.": "Corporation",
    "Co.": "Company",
    "Ins.": "Insurance",
}
DROPPABLE_TRAILING_WORDS = frozenset({"Cos.", "Corp.", "Co.", "Company", "Group", "Holdings", "Holding"})
# What is left after dropping a trailing word must still look like a name ("News Corp." stays).
MIN_NAME_LENGTH_AFTER_DROP = 5
ABBREVIATIONS: dict[str, str] = {
    "International": "Intl", "Technologies": "Tech", "Technology": "Tech", "Corporation": "Corp",
    "Company": "Co", "Holdings": "Hldgs", "Manufacturing": "Mfg", "Services": "Svcs", "Systems": "Sys",
    "Management": "Mgmt", "National": "Natl", "Brothers": "Bros", "Group": "Grp", "Financial": "Finl",
    "Insurance": "Ins",
}  # fmt: skip
# How people type a company name, with each kind's share where it applies to the name (the shares
# of the kinds that apply are renormalized per company). "exact" applies to every name.
NAME_VARIANT_SHARES: dict[str, float] = {
    "exact": 0.46,
    **{f"legal suffix{suffix}": 0.18 / len(LEGAL_SUFFIXES) for suffix in LEGAL_SUFFIXES},
    "Fortune form expanded": 0.05,
    "trailing form dropped": 0.05,
    "& <-> and": 0.06,
    "The prefix": 0.04,
    "abbreviated": 0.06,
    "alias in parentheses": 0.05,
    "punctuation dropped": 0.05,
}

# Decoys: listed companies' first words with a small-business trade ("Delta Plumbing"), and
# invented stems with a generic word that many listed names share ("Ridgeline Financial").
NEAR_MISS_FIRST_WORDS: tuple[str, ...] = (
    "American", "Delta", "Target", "General", "United", "First", "National", "Pacific", "Western",
    "Southern", "Liberty", "Republic", "Global", "Summit", "Pinnacle", "Apollo", "Atlas", "Beacon",
    "Crown", "Frontier", "Genesis", "Pioneer", "Spirit", "Sonic", "Monster", "Oracle", "Apple",
    "Amazon", "Express", "Progressive", "Principal", "Cardinal", "Continental", "Universal",
    "Community", "Central", "Century", "Mercury", "Trinity", "Vista", "Granite", "Iron", "Union",
    "Best", "Home", "Old", "Noble", "Dollar",
)  # fmt: skip
NEAR_MISS_TRADES: tuple[str, ...] = (
    "Family Dental", "Plumbing", "Logistics Group", "Auto Repair", "Roofing", "Realty", "Landscaping",
    "Pet Clinic", "Catering", "Hardware", "Printing", "Consulting Group", "Staffing", "Builders",
    "Insurance Agency", "Bakery", "Veterinary Clinic", "Law Group", "Accounting", "Electric Supply",
    "HVAC Services", "Credit Union", "Fitness", "Marketing Partners", "Software Labs", "Trucking",
    "Cleaning Services", "Property Management", "Home Health", "Storage",
)  # fmt: skip
INVENTED_STEMS: tuple[str, ...] = (
    "Blue Harbor", "Pinecrest", "Northwind", "Ridgeline", "Silver Maple", "Cedar Point", "Brightwater",
    "Ironwood", "Oak Valley", "Redstone", "Clearview", "Lakeshore", "Stonebridge", "Riverbend",
    "Maple Grove", "Highland", "Sunrise", "Evergreen", "Copperleaf", "Falcon Ridge", "Harborview",
    "Keystone", "Meridian", "Northstar", "Granite Peak", "Willow Creek", "Tidewater", "Quarry Hill",
    "Bluestem", "Lanterna",
)  # fmt: skip
GENERIC_WORDS: tuple[str, ...] = (
    "Financial", "Energy", "Holdings", "Group", "Technologies", "Insurance", "Health", "Resources",
    "Brands", "Industries", "Services", "Partners", "Systems", "Solutions", "Foods", "Healthcare",
    "Logistics", "Software", "Capital", "Materials", "Energy Partners", "Financial Group",
)  # fmt: skip
DECOY_DOMAIN_SUFFIXES: tuple[str, ...] = (".com", ".net", ".co", ".io", ".us")
DECOY_DOMAIN_SUFFIX_SHARES = np.array([0.75, 0.08, 0.07, 0.05, 0.05])
HYPHENATED_DECOY_DOMAIN_SHARE = 0.2

ACCOUNTS_CREATED = ("2016-01-01", "2024-01-01")
PERSONS_CREATED = ("2024-01-01", "2025-07-01")


@dataclass(frozen=True)
class MatchingTestSet:
    """accounts: one row per listed company (the contract's accounts columns, country always
    'United States'). persons: the contract's persons columns; account_key is set only for linked
    persons. truth: person_key, true_account_key (null for decoys) and kind ('linked', 'unlinked',
    'decoy')."""

    accounts: pa.Table
    persons: pa.Table
    truth: pa.Table


def build_fortune_testset(csv_path: Path, n_persons: int = 20_000, seed: int = 0) -> MatchingTestSet:
    """Accounts from the Fortune 1000 CSV and n_persons persons with ground truth (module docstring);
    the same seed gives the same test set."""
    if n_persons < 1:
        raise ValueError(f"n_persons must be at least 1, got {n_persons}")
    fortune = _read_fortune(Path(csv_path))
    rng = np.random.default_rng(seed)
    n_listed = fortune.num_rows
    listed_names = fortune["company"].to_pylist()
    listed_domains = [_corporate_domain(website) for website in fortune["Website"].to_pylist()]

    kind_counts = np.round(KIND_SHARES * n_persons).astype(np.int64)
    kind_counts[UNLINKED] = n_persons - kind_counts[LINKED] - kind_counts[DECOY]
    decoy_names, decoy_domains = _decoy_companies(
        rng, max(1, int(kind_counts[DECOY]) // PERSONS_PER_DECOY_COMPANY), listed_names, listed_domains
    )
    company_names = listed_names + decoy_names
    company_domains = pa.array(listed_domains + decoy_domains, pa.string())

    kind = rng.permutation(np.repeat(np.arange(len(KINDS)), kind_counts))
    is_decoy = kind == DECOY
    employees = fortune["num. of employees"].to_numpy().astype(np.float64)
    listed_weight = employees**EMPLOYEES_WEIGHT_EXPONENT
    company = np.where(
        is_decoy,
        n_listed + rng.integers(0, len(decoy_names), n_persons),
        rng.choice(n_listed, n_persons, p=listed_weight / listed_weight.sum()),
    )

    account_keys = strings.padded_keys(ACCOUNT_KEY_PREFIX, n_listed, 4)
    accounts = pa.table(
        {
            "account_key": account_keys,
            "created_at": _timestamps(rng, n_listed, ACCOUNTS_CREATED),
            "account_name": fortune["company"],
            "website": fortune["Website"],
            "industry": fortune["sector"],
            "number_of_employees": pc.cast(fortune["num. of employees"], pa.int64()),
            "annual_revenue": pc.multiply(pc.cast(fortune["revenue"], pa.float64()), 1e6),
            "country": pa.array([ACCOUNT_COUNTRY] * n_listed, pa.string()),
        }
    )

    first_name = strings.pick(FIRST_NAMES, rng.integers(0, len(FIRST_NAMES), n_persons))
    last_name = strings.pick(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n_persons))
    domain = company_domains.take(pa.array(company))
    email_source = rng.choice(len(EMAIL_SOURCES), n_persons, p=EMAIL_SOURCE_SHARES)
    website_given = rng.random(n_persons) < COMPANY_WEBSITE_SHARE
    identifiable_without_name = (email_source == WORK_EMAIL) | website_given
    # Names go missing only where the person stays identifiable, at the rate that makes the
    # overall share MISSING_COMPANY_NAME_SHARE.
    missing_name_rate = MISSING_COMPANY_NAME_SHARE / max(
        identifiable_without_name.mean(), MISSING_COMPANY_NAME_SHARE
    )
    name_missing = identifiable_without_name & (rng.random(n_persons) < missing_name_rate)
    company_name = strings.where(name_missing, None, _typed_company_names(rng, company_names, company))

    person_key_width = max(6, len(str(n_persons)))
    persons = pa.table(
        {
            "person_key": strings.padded_keys("P-", n_persons, person_key_width),
            "created_at": _timestamps(rng, n_persons, PERSONS_CREATED),
            "account_key": _keys_where(account_keys, company, kind == LINKED),
            "email": _emails(rng, first_name, last_name, domain, email_source),
            "first_name": first_name,
            "last_name": last_name,
            "company_name": company_name,
            "company_website": strings.where(website_given, _company_websites(rng, domain), None),
            "job_title": strings.pick(JOB_TITLES, rng.integers(0, len(JOB_TITLES), n_persons)),
            "country": _countries(rng, n_persons),
        }
    )
    truth = pa.table(
        {
            "person_key": persons["person_key"],
            "true_account_key": _keys_where(account_keys, company, ~is_decoy),
            "kind": strings.pick(KINDS, kind),
        }
    )
    return MatchingTestSet(accounts=accounts, persons=persons, truth=truth)


def _corporate_domain(website: str) -> str:
    """The company's own domain from a listed website: no scheme, path or site labels such as
    www., investor., corporate. ("https://investors.bestbuy.com/x/default.aspx" -> "bestbuy.com")."""
    labels = (urlsplit(website).hostname or "").split(".")
    while len(labels) > 2 and labels[0] in SITE_HOST_LABELS:
        labels = labels[1:]
    return ".".join(labels)


def _name_variants(name: str) -> dict[str, str | None]:
    """Every kind in NAME_VARIANT_SHARES spelt out for one company name; None where the kind does
    not apply ("Travelers Cos." has no alias in parentheses)."""
    typed = html.unescape(name)
    with_alias = re.fullmatch(r"(.+?) \((.+)\)", typed)
    # Beyond the exact name, people type a straight apostrophe and leave out the parenthesised
    # part, which is a variant of its own when it is an alias ("JLL").
    base = (with_alias.group(1) if with_alias else typed).replace("\u2019", "'")
    alias = with_alias.group(2) if with_alias and with_alias.group(2) != "U.S." else None
    words = base.split()

    expanded = " ".join(FORTUNE_FORMS.get(word, word) for word in words)
    if expanded.endswith(" Companies"):
        expanded = "The " + expanded  # as such firms style themselves: "The Travelers Companies"
    dropped = " ".join(words[:-1])
    if " & " in base:
        and_swapped = base.replace(" & ", " and ")
    else:
        and_swapped = base.replace(" and ", " & ")
    abbreviated = " ".join(ABBREVIATIONS.get(word, word) for word in words)
    without_accents = "".join(c for c in unicodedata.normalize("NFKD", base) if not unicodedata.combining(c))
    without_punctuation = re.sub(r"['.,]", "", without_accents).replace("-", " ")

    has_legal_form = words[-1] in LEGAL_FORM_WORDS
    return {
        "exact": typed,
        **{f"legal suffix{suffix}": None if has_legal_form else base + suffix for suffix in LEGAL_SUFFIXES},
        "Fortune form expanded": expanded if expanded != base else None,
        "trailing form dropped": (
            dropped
            if words[-1] in DROPPABLE_TRAILING_WORDS and len(dropped) >= MIN_NAME_LENGTH_AFTER_DROP
            else None
        ),
        "& <-> and": and_swapped if and_swapped != base else None,
        "The prefix": None if base.startswith("The ") else "The " + base,
        "abbreviated": abbreviated if abbreviated != base else None,
        "alias in parentheses": alias,
        "punctuation dropped": without_punctuation if without_punctuation != base else None,
    }


def _read_fortune(csv_path: Path) -> pa.Table:
    if not csv_path.is_file():
        raise FileNotFoundError(f"Fortune 1000 CSV not found: {csv_path}")
    table = pacsv.read_csv(
        csv_path,
        convert_options=pacsv.ConvertOptions(
            include_columns=["company", "rank", "revenue", "num. of employees", "sector", "Website"]
        ),
    )
    # Three ranks are shared by two companies; the stable sort keeps the file's order for those.
    return table.sort_by([("rank", "ascending")])


def _decoy_companies(
    rng: np.random.Generator, count: int, listed_names: list[str], listed_domains: list[str]
) -> tuple[list[str], list[str]]:
    """Up to `count` invented (name, domain) pairs whose names and domains are not in the list."""
    listed_first_words = {name.split()[0] for name in listed_names}
    candidates = [
        f"{first_word} {trade}"
        for first_word in NEAR_MISS_FIRST_WORDS
        if first_word in listed_first_words
        for trade in NEAR_MISS_TRADES
    ] + [f"{stem} {generic}" for stem in INVENTED_STEMS for generic in GENERIC_WORDS]
    listed_lower_names = {html.unescape(name).lower() for name in listed_names}
    listed_domain_labels = {domain.split(".")[0] for domain in listed_domains}

    def label(name: str, separator: str) -> str:
        return re.sub(r"[^a-z0-9]+", separator, name.lower())

    candidates = [
        name
        for name in candidates
        if name.lower() not in listed_lower_names
        and label(name, "") not in listed_domain_labels
        and label(name, "-") not in listed_domain_labels
    ]
    chosen = [candidates[i] for i in rng.choice(len(candidates), min(count, len(candidates)), replace=False)]
    hyphenated = rng.random(len(chosen)) < HYPHENATED_DECOY_DOMAIN_SHARE
    suffix = rng.choice(len(DECOY_DOMAIN_SUFFIXES), len(chosen), p=DECOY_DOMAIN_SUFFIX_SHARES)
    domains = [
        label(name, "-" if hyphen else "") + DECOY_DOMAIN_SUFFIXES[s]
        for name, hyphen, s in zip(chosen, hyphenated, suffix, strict=True)
    ]
    return chosen, domains


def _typed_company_names(rng: np.random.Generator, company_names: list[str], company: np.ndarray) -> pa.Array:
    """For each person, their company's name in one of the variants that apply to it, then
    sometimes lower or upper case or with a typo."""
    variants = [_name_variants(name) for name in company_names]
    kinds = list(NAME_VARIANT_SHARES)
    shares = np.array(list(NAME_VARIANT_SHARES.values()))
    # Kind-major: the variant of kind k for company c is at k * n_companies + c.
    flat_variants = pa.array([v[kind] for kind in kinds for v in variants], pa.string())
    applies = np.array([[v[kind] is not None for kind in kinds] for v in variants])

    cumulative = np.cumsum(applies[company] * shares, axis=1)
    draw = rng.random(len(company)) * cumulative[:, -1]
    variant_kind = (cumulative <= draw[:, None]).sum(axis=1)
    names = flat_variants.take(pa.array(variant_kind * len(company_names) + company))

    names = strings.swap_adjacent_characters(names, rng.random(len(company)) < TYPO_SHARE, rng)
    case = rng.random(len(company))
    names = pc.if_else(pa.array(case < LOWER_CASE_NAME_SHARE), pc.utf8_lower(names), names)
    upper = (case >= LOWER_CASE_NAME_SHARE) & (case < LOWER_CASE_NAME_SHARE + UPPER_CASE_NAME_SHARE)
    return pc.if_else(pa.array(upper), pc.utf8_upper(names), names)


def _emails(
    rng: np.random.Generator,
    first_name: pa.Array,
    last_name: pa.Array,
    domain: pa.Array,
    email_source: np.ndarray,
) -> pa.Array:
    n = len(domain)
    first = pc.utf8_lower(first_name)
    last = pc.utf8_lower(last_name)
    local_part = strings.mix(
        rng,
        n,
        [
            (0.55, strings.concat(first, ".", last)),
            (0.30, strings.concat(pc.utf8_slice_codeunits(first, 0, 1), last)),
            (0.15, first),
        ],
    )
    numbered = strings.concat(local_part, pc.cast(pa.array(rng.integers(1, 100, n)), pa.string()))
    free_local_part = strings.where(rng.random(n) < FREE_MAIL_NUMBER_SHARE, numbered, local_part)
    subdomain = strings.pick(MAIL_SUBDOMAINS, rng.integers(0, len(MAIL_SUBDOMAINS), n))
    work_domain = strings.where(
        rng.random(n) < MAIL_SUBDOMAIN_SHARE, strings.concat(subdomain, domain), domain
    )
    free_domain = strings.pick(FREE_MAIL_DOMAINS, rng.integers(0, len(FREE_MAIL_DOMAINS), n))

    email = strings.where(email_source == WORK_EMAIL, strings.concat(local_part, "@", work_domain), None)
    email = strings.where(
        email_source == FREE_EMAIL, strings.concat(free_local_part, "@", free_domain), email
    )
    email = strings.where(
        email_source == DISPOSABLE_EMAIL, strings.concat(local_part, "@", DISPOSABLE_MAIL_DOMAIN), email
    )
    return pc.if_else(pa.array(rng.random(n) < UPPER_CASE_EMAIL_SHARE), pc.utf8_upper(email), email)


def _company_websites(rng: np.random.Generator, domain: pa.Array) -> pa.Array:
    form = rng.integers(0, len(COMPANY_WEBSITE_FORMS), len(domain))
    prefixes, suffixes = zip(*COMPANY_WEBSITE_FORMS, strict=True)
    return strings.concat(strings.pick(prefixes, form), domain, strings.pick(suffixes, form))


def _countries(rng: np.random.Generator, n: int) -> pa.Array:
    foreign = rng.random(n) < FOREIGN_SHARE
    country = rng.integers(0, len(FOREIGN_COUNTRIES), n)
    return strings.where(foreign, strings.pick(FOREIGN_COUNTRIES, country), ACCOUNT_COUNTRY)


def _keys_where(account_keys: pa.Array, company: np.ndarray, mask: np.ndarray) -> pa.Array:
    """The account key of each person's company where mask is set, else null."""
    return strings.pick(account_keys.to_pylist(), np.where(mask, company, -1))


def _timestamps(rng: np.random.Generator, n: int, between: tuple[str, str]) -> pa.Array:
    start, end = (np.datetime64(day, "us").astype(np.int64) for day in between)
    return pa.array(rng.integers(start, end, n), pa.timestamp("us"))
