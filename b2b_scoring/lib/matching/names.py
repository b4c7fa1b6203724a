"""Company names as comparable tokens: case, accents, punctuation, "&"/"and", a leading "The",
trailing legal forms (Inc., GmbH & Co. KG, Pty Ltd, ...) and common abbreviations normalized, in
DuckDB for every distinct name at once."""

from __future__ import annotations

import duckdb
import pyarrow as pa

# Tokens after dots are removed ("S.A." -> "sa", "Co., Ltd." -> "co ltd").
LEGAL_FORMS: tuple[str, ...] = (
    "ab", "ag", "as", "asa", "bhd", "bv", "co", "company", "corp", "corporation", "cv", "gmbh", "inc",
    "incorporated", "kg", "kgaa", "kk", "llc", "llp", "lp", "ltd", "ltda", "limited", "nv", "oy", "plc",
    "pte", "pty", "pvt", "private", "sa", "sarl", "sas", "se", "sl", "spa", "srl", "sro", "ug",
)  # fmt: skip
# Spellings of one word, mapped to one form.
CANONICAL_WORDS: dict[str, str] = {
    "assn": "association",
    "bros": "brothers",
    "cos": "companies",
    "ctr": "center",
    "centre": "center",
    "grp": "group",
    "hldgs": "holdings",
    "hldg": "holding",
    "intl": "international",
    "mfg": "manufacturing",
    "mgmt": "management",
    "natl": "national",
    "sol": "solutions",
    "solution": "solutions",
    "svcs": "services",
    "sys": "systems",
    "tech": "technology",
    "technologies": "technology",
    "univ": "university",
}
TOKENS_TABLE_SUFFIX = "_tokens"


def normalized_text_sql(expression: str) -> str:
    """SQL for the name lower-cased without accents, HTML entities ("&#8217;"), bracketed aliases
    ("Advanced Micro Devices (AMD)"), dots or apostrophes, "&" spelt "and" and every other run of
    non-alphanumerics one space."""
    lowered = "strip_accents(lower(replace(" + expression + ", '&amp;', '&')))"
    without_entities = f"regexp_replace({lowered}, '&#?[a-z0-9]+;', '', 'g')"
    without_aliases = f"regexp_replace({without_entities}, '\\([^)]*\\)', ' ', 'g')"
    without_dots = f"regexp_replace({without_aliases}, '[.''’]', '', 'g')"
    return f"trim(regexp_replace(replace({without_dots}, '&', ' and '), '[^a-z0-9]+', ' ', 'g'))"


def create_name_tokens(con: duckdb.DuckDBPyConnection, names_query: str, target: str) -> None:
    """Create temp tables `target`(name, normalized) and `target`_tokens(name, token) for the
    distinct non-null names of `names_query` (one column named name).

    A name keeps its legal form or a leading "the" when that is all there is to it."""
    vocabulary = pa.table(
        {
            "token": [*LEGAL_FORMS, *CANONICAL_WORDS],
            "legal": [True] * len(LEGAL_FORMS) + [False] * len(CANONICAL_WORDS),
            "canonical": [None] * len(LEGAL_FORMS) + list(CANONICAL_WORDS.values()),
        }
    )
    con.register("_name_vocabulary", vocabulary)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target}{TOKENS_TABLE_SUFFIX} AS
        WITH names AS (
            SELECT DISTINCT name, string_split({normalized_text_sql("name")}, ' ') AS words
            FROM ({names_query})
            WHERE name IS NOT NULL
        ),
        words AS (
            SELECT name, unnest(words) AS word, generate_subscripts(words, 1) AS position
            FROM names
        ),
        kept AS (
            SELECT w.name, w.position, coalesce(v.canonical, w.word) AS token,
                   coalesce(v.legal, false) AS legal
            FROM words AS w
            LEFT JOIN _name_vocabulary AS v ON v.token = w.word
            WHERE w.word <> '' AND w.word <> 'and'
        ),
        marked AS (
            SELECT *,
                   max(position) FILTER (WHERE NOT legal AND NOT (position = 1 AND token = 'the'))
                       OVER (PARTITION BY name) AS last_core_position
            FROM kept
        )
        SELECT name, position, token
        FROM marked
        WHERE last_core_position IS NULL
           OR (position <= last_core_position AND NOT (position = 1 AND token = 'the'))
        """
    )
    con.unregister("_name_vocabulary")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        SELECT name, string_agg(token, ' ' ORDER BY position) AS normalized
        FROM {target}{TOKENS_TABLE_SUFFIX}
        GROUP BY name
        """
    )
    # Token order no longer matters once the normalized name is built.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {target}{TOKENS_TABLE_SUFFIX} AS "
        f"SELECT DISTINCT name, token FROM {target}{TOKENS_TABLE_SUFFIX}"
    )
