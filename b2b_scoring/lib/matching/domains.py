"""Registrable domains ("eu.mail.acme.co.uk" -> "acme.co.uk") from the public suffix list that
ships inside the tldextract package (its bundled snapshot: nothing is fetched), computed in DuckDB
for every distinct host at once."""

from __future__ import annotations

import importlib.resources
from functools import cache

import duckdb
import pyarrow as pa

# Only the ICANN section: private suffixes (blogspot.com, github.io, ...) are hosting platforms,
# and a company's site on one of them is still that platform's domain for matching.
_PRIVATE_SECTION_MARKER = "===BEGIN PRIVATE DOMAINS==="
# The longest rule in the list has five labels; a suffix longer than that is never public.
MAX_SUFFIX_LABELS = 5
RULES_TABLE = "public_suffix_rules"


@cache
def public_suffix_rules() -> pa.Table:
    """The ICANN public suffix rules: (suffix, kind) with kind 'rule', 'wildcard' (the rule
    '*.ck' is stored as suffix 'ck') or 'exception' ('!www.ck' as 'www.ck')."""
    snapshot = importlib.resources.files("tldextract") / ".tld_set_snapshot"
    text = snapshot.read_text(encoding="utf-8").split(_PRIVATE_SECTION_MARKER)[0]
    suffixes: list[str] = []
    kinds: list[str] = []
    for line in text.splitlines():
        rule = line.strip().lower()
        if not rule or rule.startswith("//"):
            continue
        if rule.startswith("!"):
            suffixes.append(rule[1:])
            kinds.append("exception")
        elif rule.startswith("*."):
            suffixes.append(rule[2:])
            kinds.append("wildcard")
        else:
            suffixes.append(rule)
            kinds.append("rule")
    return pa.table({"suffix": suffixes, "kind": kinds})


def host_sql(expression: str) -> str:
    """SQL for the lower-cased host of a website or URL: no scheme, user, port, path or
    trailing dot ("https://www.Acme.com/about" -> "www.acme.com"); NULL when empty."""
    return (
        "nullif(rtrim(regexp_replace(lower(trim(" + expression + ")), "
        r"'^([a-z][a-z0-9+.\-]*://)?([^@/]*@)?([^/:?#\s]*).*$', '\3'), '.'), '')"
    )


def email_host_sql(expression: str) -> str:
    """SQL for the lower-cased domain of an e-mail address ("Jane@Mail.Acme.com" -> "mail.acme.com")."""
    return (
        r"nullif(rtrim(lower(trim(regexp_extract(" + expression + r", '@([^@\s>]+)\s*>?\s*$', 1))), '.'), '')"
    )


def create_registrable_domains(con: duckdb.DuckDBPyConnection, hosts_query: str, target: str) -> None:
    """Create temp table `target`(host, domain) for the distinct non-null hosts of `hosts_query`
    (one column named host). The domain is the public suffix plus one label; NULL for a host
    that is itself a public suffix or not a dotted name."""
    con.register("_public_suffix_rules_arrow", public_suffix_rules())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RULES_TABLE} AS SELECT * FROM _public_suffix_rules_arrow")
    con.unregister("_public_suffix_rules_arrow")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        WITH hosts AS (
            SELECT DISTINCT host, string_split(host, '.') AS labels
            FROM ({hosts_query})
            WHERE host IS NOT NULL AND host LIKE '%_._%'
        ),
        suffixes AS (
            SELECT host, labels, k,
                   array_to_string(list_slice(labels, len(labels) - k + 1, len(labels)), '.') AS suffix
            FROM hosts, range(1, {MAX_SUFFIX_LABELS} + 1) AS r(k)
            WHERE k <= len(labels)
        ),
        public_suffix_length AS (
            SELECT s.host, any_value(s.labels) AS labels,
                   coalesce(
                       max(s.k - 1) FILTER (WHERE r.kind = 'exception'),
                       greatest(1, max(s.k) FILTER (WHERE r.kind = 'rule'),
                                max(s.k + 1) FILTER (WHERE r.kind = 'wildcard'))
                   ) AS n
            FROM suffixes AS s
            LEFT JOIN {RULES_TABLE} AS r ON r.suffix = s.suffix
            GROUP BY s.host
        )
        SELECT host,
               CASE WHEN len(labels) > n
                    THEN array_to_string(list_slice(labels, len(labels) - n, len(labels)), '.')
               END AS domain
        FROM public_suffix_length
        """
    )
