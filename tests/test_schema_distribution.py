"""The migrated schema can be distributed by ``tenant_id`` with Citus, as docs/scaling.md says.

Reads pg_catalog on the real Postgres after every migration has run (and after the store has
added its vector column and indexes) and checks what Citus needs of a table distributed by
``tenant_id`` and co-located with the others:

* every table has a ``tenant_id text NOT NULL`` column, except the documented reference tables;
* every primary key, unique constraint, unique index (partial ones too) and exclusion
  constraint contains ``tenant_id`` as a plain column;
* every foreign key maps ``tenant_id`` to ``tenant_id`` between two distributed tables (or
  points from a distributed table to a reference table);
* identity columns are ``bigint`` (the only type Citus supports on distributed tables) and no
  table has a trigger, a rule or a column default drawing on a free-standing sequence;
* docs/scaling.md distributes exactly the tables the schema has, and makes reference tables of
  exactly the documented exceptions.

A migration that adds a table, a key or an index breaking any of this fails here; the second
test shows the checks do catch each kind of breakage.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from langmem_tiered.store import PostgresStore, load_migrations

DOC = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"

# Tables without tenant_id, and why: each is a Citus reference table (docs/scaling.md).
REFERENCE_TABLES = {
    "lmt_schema_version": "the migration ledger, written only by migrate()",
    "lmt_embedding_models": "embedding models that have written vectors: global, not tenant data",
}


@pytest.fixture
def migrated(postgres_url: str, schema: str) -> Iterator[psycopg.Connection]:
    store = PostgresStore(postgres_url, schema=schema)
    store.open()  # applies every migration
    try:
        store.ensure_vectors(8)  # the vector column and indexes the store adds at run time
    finally:
        store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


# -- the checks ---------------------------------------------------------------------------------


def _tables(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
        [schema],
    ).fetchall()
    return [r[0] for r in rows]


def distribution_problems(conn: psycopg.Connection, schema: str) -> list[str]:
    """Everything in ``schema`` that stops Citus distributing it by tenant_id (empty: none)."""
    problems: list[str] = []
    tables = _tables(conn, schema)
    distributed = [t for t in tables if t not in REFERENCE_TABLES]

    # tenant_id on every distributed table (and not on a reference table: it would belong there)
    cols = dict(
        conn.execute(
            "SELECT c.table_name, c.data_type || CASE WHEN c.is_nullable = 'NO'"
            " THEN ' not null' ELSE '' END FROM information_schema.columns c"
            " WHERE c.table_schema = %s AND c.column_name = 'tenant_id'",
            [schema],
        ).fetchall()
    )
    for table in distributed:
        if table not in cols:
            problems.append(f"{table}: no tenant_id column")
        elif cols[table] != "text not null":
            problems.append(f"{table}: tenant_id is {cols[table]}, not text not null")
    for table in REFERENCE_TABLES:
        if table in cols:
            problems.append(f"{table}: has tenant_id, so it should be distributed, not reference")

    # primary keys, unique indexes (constraint or not, partial or not), exclusion constraints
    rows = conn.execute(
        """
        SELECT t.relname, i.relname, x.indisprimary,
               (SELECT array_agg(a.attname::text ORDER BY k.n)
                  FROM unnest(x.indkey[0:x.indnkeyatts - 1]) WITH ORDINALITY k(attnum, n)
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum),
               x.indisexclusion
        FROM pg_index x
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %s AND (x.indisunique OR x.indisexclusion)
        """,
        [schema],
    ).fetchall()
    for table, index, primary, keys, _exclusion in rows:
        if table in REFERENCE_TABLES:
            continue
        if "tenant_id" not in (keys or []):
            kind = "primary key" if primary else "unique/exclusion index"
            problems.append(f"{table}: {kind} {index} ({', '.join(keys or [])}) lacks tenant_id")
    primaries = {r[0] for r in rows if r[2]}
    for table in distributed:
        if table not in primaries:
            problems.append(f"{table}: no primary key")

    # foreign keys: tenant_id -> tenant_id, never from a reference table to a distributed one
    rows = conn.execute(
        """
        SELECT c.conname, src.relname, dst.relname,
               (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(c.conkey)
                  WITH ORDINALITY k(attnum, n)
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
               (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(c.confkey)
                  WITH ORDINALITY k(attnum, n)
                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum)
        FROM pg_constraint c
        JOIN pg_class src ON src.oid = c.conrelid
        JOIN pg_class dst ON dst.oid = c.confrelid
        JOIN pg_namespace n ON n.oid = src.relnamespace
        WHERE n.nspname = %s AND c.contype = 'f'
        """,
        [schema],
    ).fetchall()
    for name, src, dst, src_cols, dst_cols in rows:
        if src in REFERENCE_TABLES:
            if dst not in REFERENCE_TABLES:
                problems.append(f"{src}: foreign key {name} from a reference table to {dst}")
            continue
        if dst in REFERENCE_TABLES:
            continue  # distributed -> reference: allowed
        pairs = list(zip(src_cols, dst_cols, strict=True))
        if ("tenant_id", "tenant_id") not in pairs:
            problems.append(
                f"{src}: foreign key {name} to {dst} does not map tenant_id to tenant_id"
            )

    # identity columns: bigint only; no sequence defaults, triggers or rules
    rows = conn.execute(
        "SELECT table_name, column_name, data_type, is_identity, column_default"
        " FROM information_schema.columns WHERE table_schema = %s",
        [schema],
    ).fetchall()
    for table, column, data_type, is_identity, default in rows:
        if table in REFERENCE_TABLES:
            continue
        if is_identity == "YES" and data_type != "bigint":
            problems.append(f"{table}.{column}: identity column of type {data_type}, not bigint")
        if default and "nextval(" in default:
            problems.append(f"{table}.{column}: default {default} draws on a sequence")
    rows = conn.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND NOT t.tgisinternal",
        [schema],
    ).fetchall()
    problems += [f"{table}: trigger {name}" for table, name in rows]
    rows = conn.execute(
        "SELECT tablename, rulename FROM pg_rules WHERE schemaname = %s", [schema]
    ).fetchall()
    problems += [f"{table}: rule {name}" for table, name in rows]
    return problems


def documented_calls() -> tuple[set[str], set[str]]:
    """Tables docs/scaling.md distributes by tenant_id, and the reference tables it makes."""
    text = DOC.read_text(encoding="utf-8")
    distributed = set(re.findall(r"create_distributed_table\(\s*'(\w+)'\s*,\s*'tenant_id'", text))
    reference = set(re.findall(r"create_reference_table\(\s*'(\w+)'\s*\)", text))
    return distributed, reference


# -- the tests ----------------------------------------------------------------------------------


def test_migrated_schema_distributes_by_tenant(migrated: psycopg.Connection, schema: str) -> None:
    tables = _tables(migrated, schema)
    applied = migrated.execute(f"SELECT count(*) FROM {schema}.lmt_schema_version").fetchone()
    assert applied is not None and applied[0] == len(load_migrations())
    assert {"lmt_sessions", "lmt_messages", "lmt_facts", "lmt_recall_items"} <= set(tables)
    assert set(REFERENCE_TABLES) <= set(tables)

    problems = distribution_problems(migrated, schema)
    assert problems == [], "the schema cannot be distributed by tenant_id:\n" + "\n".join(problems)

    distributed, reference = documented_calls()
    assert reference == set(REFERENCE_TABLES), "docs/scaling.md: reference tables"
    missing = sorted(set(tables) - set(REFERENCE_TABLES) - distributed)
    extra = sorted(distributed - set(tables))
    assert not missing, f"docs/scaling.md does not distribute {missing}"
    assert not extra, f"docs/scaling.md distributes tables that do not exist: {extra}"


def test_the_checks_catch_each_kind_of_breakage(postgres_url: str) -> None:
    schema = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(
                f"""
                SET search_path TO {schema};
                CREATE TABLE good (tenant_id text NOT NULL, id bigint, PRIMARY KEY (tenant_id, id));
                CREATE TABLE no_tenant (id bigint PRIMARY KEY);
                CREATE TABLE nullable (tenant_id text, id bigint, PRIMARY KEY (id));
                CREATE TABLE bad_unique (
                    tenant_id text NOT NULL, id bigint, email text,
                    PRIMARY KEY (tenant_id, id), UNIQUE (email));
                CREATE UNIQUE INDEX bad_partial ON bad_unique (email) WHERE id > 0;
                CREATE TABLE bad_fk (
                    tenant_id text NOT NULL, id bigint, good_tenant text, good_id bigint,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (good_tenant, good_id) REFERENCES good (tenant_id, id));
                CREATE TABLE small_identity (
                    tenant_id text NOT NULL, id integer GENERATED ALWAYS AS IDENTITY,
                    PRIMARY KEY (tenant_id, id));
                CREATE TABLE serial_id (tenant_id text NOT NULL, id bigserial,
                    PRIMARY KEY (tenant_id, id));
                CREATE TABLE no_pk (tenant_id text NOT NULL);
                CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql
                    AS $$ BEGIN RETURN NEW; END $$;
                CREATE TRIGGER touch BEFORE INSERT ON good FOR EACH ROW EXECUTE FUNCTION touch();
                """
            )
            problems = "\n".join(distribution_problems(conn, schema))
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    expected = [
        "no_tenant: no tenant_id column",
        "nullable: tenant_id is text, not text not null",
        "nullable: primary key nullable_pkey (id) lacks tenant_id",
        "bad_unique: unique/exclusion index bad_unique_email_key (email) lacks tenant_id",
        "bad_unique: unique/exclusion index bad_partial (email) lacks tenant_id",
        "bad_fk: foreign key bad_fk_good_tenant_good_id_fkey to good does not map tenant_id",
        "small_identity.id: identity column of type integer, not bigint",
        "serial_id.id: default nextval(",
        "no_pk: no primary key",
        "good: trigger touch",
    ]
    for line in expected:
        assert line in problems, f"not reported: {line}\n--- reported:\n{problems}"
    assert "good: primary key" not in problems and "good: no" not in problems
