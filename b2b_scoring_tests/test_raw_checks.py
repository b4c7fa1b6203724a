import duckdb

from b2b_scoring.lib.raw_checks import count_required_nulls, find_duplicate_keys


def test_required_nulls_and_duplicate_keys_are_found() -> None:
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.persons AS SELECT * FROM (VALUES "
            "('p1', TIMESTAMP '2025-01-01', 'a@x.com'), ('p1', NULL, NULL), "
            "(NULL, TIMESTAMP '2025-01-02', NULL), ('p2', TIMESTAMP '2025-01-03', NULL)"
            ") AS t(person_key, created_at, email)"
        )
        nulls = count_required_nulls(con, "persons")
        duplicates = find_duplicate_keys(con, "persons")
    assert not nulls.passed
    assert nulls.rows == 4
    assert nulls.nulls_by_column == {"person_key": 1, "created_at": 1}
    assert not duplicates.passed
    assert (duplicates.duplicated_keys, duplicates.sample) == (1, [("p1",)])


def test_clean_table_passes_and_null_key_parts_compare_equal() -> None:
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.intent_signals AS SELECT * FROM (VALUES "
            "('a1', NULL, 'crm', DATE '2025-01-01', 50.0, 'bombora'), "
            "(NULL, 'x.com', 'crm', DATE '2025-01-01', 20.0, 'bombora')"
            ") AS t(account_key, domain, topic, signal_date, intensity, provider)"
        )
        assert count_required_nulls(con, "intent_signals").passed
        assert find_duplicate_keys(con, "intent_signals").passed
        con.execute(
            "INSERT INTO raw.intent_signals VALUES (NULL, 'x.com', 'crm', DATE '2025-01-01', 70.0, 'bombora')"
        )
        assert find_duplicate_keys(con, "intent_signals").duplicated_keys == 1
