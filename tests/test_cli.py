"""The command line against real Postgres (and Redis): backfill and recall, listings, show,
export/import, clear/delete, migrate, bench, and the compliance commands (gc, rotate-keys,
erase-user/erase-tenant, audit); ``--json`` output and exit codes."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any, get_args

import psycopg
from typer.testing import CliRunner

from langmem_tiered import TieredMemory
from langmem_tiered.cli import AuditAction, app
from langmem_tiered.compliance import AuditEntry, FieldCipher

runner = CliRunner()


def test_backfill_indexes_what_was_written_with_recall_off_then_recall_finds_it(
    postgres_url: str, schema: str
) -> None:
    mem = TieredMemory.connect(postgres_url=postgres_url, schema=schema, recall=False)
    try:
        s = mem.session("t", "u", "chat")
        s.add_messages(
            [
                {"role": "user", "content": "I planted a kiwi vine in the garden"},
                {"role": "assistant", "content": "Kiwi vines need a male and a female plant."},
                {"role": "user", "content": "Then I will buy another one"},
            ]
        )
    finally:
        mem.close()
    args = ["--postgres-url", postgres_url, "--schema", schema, "--json"]
    result = runner.invoke(app, ["backfill", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["sessions"] == 1 and report["items_indexed"] == 3
    assert report["status"]["items"] == 3
    again = json.loads(runner.invoke(app, ["backfill", *args]).output)
    assert again["sessions"] == 0 and again["items_indexed"] == 0  # idempotent

    result = runner.invoke(app, ["recall", "t", "u", "kiwi garden", "-k", "2", *args])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits and hits[0]["provenance"]["session"] == "chat"
    assert "kiwi" in hits[0]["text"].lower()
    with psycopg.connect(postgres_url) as conn:
        count = conn.execute(f"SELECT count(*) FROM {schema}.lmt_recall_items").fetchone()
    assert count == (3,)


def test_recall_of_an_unknown_user_prints_nothing_and_bad_k_fails(
    postgres_url: str, schema: str
) -> None:
    args = ["--postgres-url", postgres_url, "--schema", schema]
    result = runner.invoke(app, ["recall", "t", "nobody", "kiwi", *args])
    assert result.exit_code == 0 and result.output == ""
    result = runner.invoke(app, ["recall", "t", "nobody", "kiwi", "-k", "0", *args])
    assert result.exit_code != 0


# -- data management commands ------------------------------------------------------------


def _seed(postgres_url: str, schema: str) -> None:
    mem = TieredMemory.connect(
        postgres_url=postgres_url, schema=schema, recall=False, extract_facts=False
    )
    try:
        s = mem.session("clinic", "maria", "chat-1")
        s.add_messages(
            [
                {"role": "user", "content": "Oi, quero marcar uma consulta"},
                {"role": "assistant", "content": "Claro! Qual especialidade?"},
                {"role": "user", "content": "Ortodontia"},
            ]
        )
        s.update_state(current_state="selecting_doctor")
        s.remember("specialty", "ortodontia")
        mem.session("clinic", "joao", "chat-9").add_message(role="user", content="olá")
        mem.session("shop", "ana", "s").add_message(role="user", content="hi")
        mem.flush(timeout=60)
    finally:
        mem.close()


def _json(args: list[str], code: int = 0, **kwargs: Any) -> Any:
    result = runner.invoke(app, args, **kwargs)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_list_show_and_stats_print_json(postgres_url: str, schema: str) -> None:
    _seed(postgres_url, schema)
    env = {"LANGMEM_POSTGRES_URL": postgres_url, "LANGMEM_SCHEMA": schema}
    tenants = _json(["list", "--json"], env=env)["tenants"]  # connection from the environment
    assert [(t["tenant"], t["sessions"], t["messages"]) for t in tenants] == [
        ("clinic", 2, 4),
        ("shop", 1, 1),
    ]
    listed = _json(["list", "--tenant", "clinic", "--limit", "1", "--json"], env=env)
    assert [u["user"] for u in listed["users"]] == ["joao", "maria"]
    assert [s["session"] for s in listed["sessions"]] == ["chat-9"]
    assert listed["next"] == ["joao", "chat-9"]
    page2 = _json(
        [
            "list",
            "-t",
            "clinic",
            "--limit",
            "1",
            "--after-user",
            "joao",
            "--after-session",
            "chat-9",
            "--json",
        ],
        env=env,
    )
    assert [s["session"] for s in page2["sessions"]] == ["chat-1"]

    view = _json(["show", "chat-1", "-t", "clinic", "-u", "maria", "--json"], env=env)
    assert [m["content"] for m in view["messages"]][-1] == "Ortodontia"
    assert view["state"]["current_state"] == "selecting_doctor"
    assert {f["key"]: f["value"] for f in view["facts"]}["specialty"] == "ortodontia"
    text = runner.invoke(app, ["show", "chat-1", "-t", "clinic", "-u", "maria"], env=env)
    assert text.exit_code == 0 and "#3" in text.stdout and "Ortodontia" in text.stdout

    stats = _json(["stats", "--json"], env=env)
    assert stats["totals"]["messages"] == 5 and stats["totals"]["tenants"] == 2
    assert "hot_tier" in stats["memory"] and stats["health"]["postgres"] is True
    assert runner.invoke(app, ["stats"], env=env).exit_code == 0


def test_export_import_round_trip_through_the_command(
    postgres_url: str, schema: str, tmp_path: Path
) -> None:
    _seed(postgres_url, schema)
    src = ["--postgres-url", postgres_url, "--schema", schema]
    out = _json(["export", str(tmp_path / "a.jsonl.gz"), "-t", "clinic", *src, "--json"])
    assert out["sessions"] == 2 and out["messages"] == 4 and out["facts"] == 1
    other = "t_" + uuid.uuid4().hex[:16]
    dst = ["--postgres-url", postgres_url, "--schema", other]
    try:
        counts = _json(["import", str(tmp_path / "a.jsonl.gz"), *dst, "--json"])
        assert counts["messages"] == 4 and counts["skipped"] == 0
        assert counts["backfill"]["sessions"] == 2  # indexed for recall afterwards
        again = _json(["import", str(tmp_path / "a.jsonl.gz"), *dst, "--json", "--no-backfill"])
        assert again["messages"] == 0 and again["skipped"] == 7
        _json(["export", str(tmp_path / "b.jsonl.gz"), "-t", "clinic", *dst, "--json"])
        assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
        hits = _json(["recall", "clinic", "maria", "ortodontia", *dst, "--json"])
        assert hits and hits[0]["provenance"]["session"] == "chat-1"
        # a bad file: exit 2, the message on stderr names the line, nothing imported
        lines = gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()).splitlines()
        lines[3] = lines[3].replace(b'"role":"user"', b'"role":"robot"')
        (tmp_path / "bad.jsonl").write_bytes(b"\n".join(lines))
        result = runner.invoke(app, ["import", str(tmp_path / "bad.jsonl"), *src, "--json"])
        assert result.exit_code == 2 and result.stdout == ""
        error = json.loads(result.stderr)
        assert error["type"] == "InvalidImportError" and "line 4" in error["error"]
        assert error["exit_code"] == 2
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {other} CASCADE")


def test_clear_and_delete_need_confirmation_and_report_what_went(
    postgres_url: str, schema: str
) -> None:
    _seed(postgres_url, schema)
    args = ["--postgres-url", postgres_url, "--schema", schema]
    who = ["-t", "clinic", "-u", "maria"]
    refused = runner.invoke(app, ["delete", "chat-1", *who, *args])  # no --yes, no input
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    declined = runner.invoke(app, ["clear", "chat-1", *who, *args], input="n\n")
    assert declined.exit_code == 2
    cleared = runner.invoke(app, ["clear", "chat-1", *who, *args, "--json"], input="y\n")
    assert cleared.exit_code == 0, cleared.stderr
    assert json.loads(cleared.stdout.splitlines()[-1]) == {"messages_removed": 3}
    view = _json(["show", "chat-1", *who, *args, "--json"])
    assert view["messages"] == [] and view["info"]["last_seq"] == 3  # cleared, not deleted
    deleted = _json(["delete", "chat-1", *who, *args, "--yes", "--json"])
    assert deleted["sessions"] == 1
    missing = runner.invoke(app, ["delete", "chat-1", *who, *args, "--yes"])
    assert missing.exit_code == 4 and "no session" in missing.stderr
    gone = runner.invoke(app, ["show", "chat-1", *who, *args])
    assert gone.exit_code == 4 and "no session" in gone.stderr
    assert _json(["show", "chat-9", "-t", "clinic", "-u", "joao", *args, "--json"])["messages"]


def test_exit_codes_for_usage_bad_input_and_unavailable_services(
    postgres_url: str, schema: str
) -> None:
    args = ["--postgres-url", postgres_url, "--schema", schema]
    assert runner.invoke(app, ["show", "chat-1", *args]).exit_code == 2  # --tenant missing
    bad = runner.invoke(app, ["list", "-t", "clinic", "--limit", "0", *args, "--json"])
    assert bad.exit_code == 2 and json.loads(bad.stderr)["type"] == "InvalidInputError"
    bad_id = runner.invoke(app, ["show", "s", "-t", "bad\nid", "-u", "u", *args])
    assert bad_id.exit_code == 2 and bad_id.stderr.startswith("error: ")
    down = ["--postgres-url", "postgresql://postgres@127.0.0.1:1/postgres", "--schema", schema]
    result = runner.invoke(app, ["migrate", "--dry-run", *down, "--json"])
    assert result.exit_code == 3 and json.loads(result.stderr)["exit_code"] == 3
    help_text = runner.invoke(app, ["--help"]).stdout
    assert "Exit codes" in help_text and "3 Postgres or Redis unavailable" in help_text


def test_migrate_dry_run_lists_pending_then_applies(postgres_url: str, schema: str) -> None:
    from langmem_tiered.store.schema import load_migrations

    args = ["--postgres-url", postgres_url, "--schema", schema]
    every = [f"{m.version:04d}_{m.name}" for m in load_migrations()]
    dry = _json(["migrate", "--dry-run", *args, "--json"])
    assert dry["pending"] == every and dry["applied"] == [] and dry["version"] == 0
    done = _json(["migrate", *args, "--json"])
    assert done["applied"] == every and done["version"] == len(every)
    assert _json(["migrate", "--dry-run", *args, "--json"])["pending"] == []
    assert _json(["migrate", *args, "--json"])["applied"] == []
    health = _json(["health", *args, "--json"])
    assert health["schema_version"] == len(every)


def test_bench_times_the_hot_path_against_redis_get(
    postgres_url: str, schema: str, redis_url: str, redis_prefix: str
) -> None:
    args = ["--postgres-url", postgres_url, "--schema", schema, "--redis-url", redis_url]
    report = _json(["bench", "-n", "10", *args, "--json"])
    assert set(report["ops"]) == {"append", "recent_20", "context"}
    assert report["hot_tier"] == "redis" and report["redis_get"]["p50_us"] > 0
    for op in report["ops"].values():
        assert op["p99_us"] >= op["p50_us"] > 0 and op["ratio_to_redis_get"] > 0
    assert _json(["list", "-t", "~bench", *args, "--json"])["sessions"] == []  # cleaned up


# -- compliance commands -------------------------------------------------------------------


def _age(postgres_url: str, schema: str, tenant: str, session: str, days: float) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute(
            f"UPDATE {schema}.lmt_sessions SET updated_at = now() - make_interval(days => %s) "
            "WHERE tenant_id = %s AND session_id = %s",
            [days, tenant, session],
        )


def _messages(postgres_url: str, schema: str, tenant: str, user: str | None = None) -> int:
    where = "tenant_id = %s" + ("" if user is None else " AND user_id = %s")
    params = [tenant] if user is None else [tenant, user]
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {schema}.lmt_messages WHERE {where}", params
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_gc_dry_run_counts_then_the_run_deletes_only_aged_sessions(
    postgres_url: str, schema: str, tmp_path: Path
) -> None:
    _seed(postgres_url, schema)
    _age(postgres_url, schema, "clinic", "chat-1", 400)
    _age(postgres_url, schema, "shop", "s", 400)
    args = ["--postgres-url", postgres_url, "--schema", schema]

    dry = _json(["gc", "--dry-run", "--days", "30", "--action", "delete", *args, "--json"])
    assert dry["dry_run"] is True and dry["tenants"] == 2
    assert dry["sessions"] == {"delete": 2, "anonymize": 0, "archive": 0}
    assert dry["messages"] == 4 and dry["policy"] == {"days": 30.0, "action": "delete"}
    assert _messages(postgres_url, schema, "clinic") == 4  # a dry run changes nothing
    # the vertical's default policy (retail: anonymize after 90 days), and --days alone
    # keeps the vertical's action
    retail = _json(["gc", "--dry-run", "--vertical", "retail", *args, "--json"])
    assert retail["policy"] == {"days": 90.0, "action": "anonymize"}
    assert retail["sessions"]["anonymize"] == 2 and retail["vertical"] == "retail"
    longer = _json(["gc", "--dry-run", "--days", "500", *args, "--json"])
    assert longer["policy"] == {"days": 500.0, "action": "delete"}
    assert longer["tenants"] == 0 and sum(longer["sessions"].values()) == 0

    refused = runner.invoke(app, ["gc", "-t", "clinic", "--days", "30", *args])  # no --yes
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert _messages(postgres_url, schema, "clinic") == 4
    done = _json(["gc", "-t", "clinic", "--days", "30", "--yes", *args, "--json"])
    assert done["dry_run"] is False and done["tenants"] == 1
    assert done["sessions"]["delete"] == 1 and done["messages"] == 3
    gone = runner.invoke(app, ["show", "chat-1", "-t", "clinic", "-u", "maria", *args])
    assert gone.exit_code == 4
    assert _json(["show", "chat-9", "-t", "clinic", "-u", "joao", *args, "--json"])["messages"]
    assert _messages(postgres_url, schema, "shop") == 1  # another tenant: not this run
    again = _json(["gc", "-t", "clinic", "--days", "30", "--yes", *args, "--json"])
    assert again["tenants"] == 0  # idempotent

    # archive: needs --archive-dir, then writes the session's export and deletes it
    no_dir = runner.invoke(app, ["gc", "--action", "archive", "--days", "30", "--yes", *args])
    assert no_dir.exit_code == 2 and "--archive-dir" in no_dir.stderr
    assert _messages(postgres_url, schema, "shop") == 1
    archived = runner.invoke(
        app,
        ["gc", "--action", "archive", "--days", "30", "--archive-dir", str(tmp_path), *args],
        input="y\n",
    )
    assert archived.exit_code == 0, archived.stderr
    assert "archive" in archived.stdout and "messages: 1" in archived.stdout
    (archive,) = list(tmp_path.rglob("*.jsonl.gz"))
    assert archive.parent.parent == tmp_path and archive.parent.name.startswith("shop")
    assert str(archive) in archived.stdout
    assert b'"content":"hi"' in gzip.decompress(archive.read_bytes())
    assert _messages(postgres_url, schema, "shop") == 0

    trail = _json(["audit", "-t", "clinic", "--action", "retention", *args, "--json"])
    entries = trail["entries"]
    assert trail["tenant"] == "clinic"
    assert [(e["dry_run"], e["status"]) for e in entries][-1] == (True, "done")
    assert entries[0]["details"]["handled"] == 1 and entries[0]["dry_run"] is False
    assert entries[0]["request_id"] == done["request_id"]
    assert "maria" not in json.dumps(entries)
    text = runner.invoke(app, ["audit", "-t", "clinic", *args])
    assert text.exit_code == 0 and "retention done (dry run)" in text.stdout
    assert f"request {done['request_id']}" in text.stdout


def test_gc_rejects_bad_options_before_touching_anything(postgres_url: str, schema: str) -> None:
    _seed(postgres_url, schema)
    _age(postgres_url, schema, "clinic", "chat-1", 400)
    args = ["--postgres-url", postgres_url, "--schema", schema, "--yes"]
    for bad in (
        ["--vertical", "nope"],
        ["--days", "0"],
        ["--days", "-3"],
        ["--action", "shred"],
        ["--tenant", "bad\nid", "--days", "30"],
    ):
        result = runner.invoke(app, ["gc", *bad, *args, "--json"])
        assert result.exit_code == 2, (bad, result.stderr)
    bad_id = runner.invoke(app, ["gc", "-t", "bad\nid", "--days", "30", *args, "--json"])
    assert json.loads(bad_id.stderr)["type"] == "InvalidIdError"
    assert _messages(postgres_url, schema, "clinic") == 4
    assert _json(["audit", "-t", "clinic", "--postgres-url", postgres_url, "--schema", schema,
                  "--json"])["entries"] == []  # fmt: skip


def test_rotate_keys_with_two_keys_then_read_with_only_the_new_one(
    postgres_url: str, schema: str, tmp_path: Path
) -> None:
    old, new = FieldCipher.generate_key(), FieldCipher.generate_key()
    mem = TieredMemory.connect(
        postgres_url=postgres_url, schema=schema, encryption=[old], extract_facts=False
    )
    try:
        s = mem.session("clinic", "maria", "chat-1")
        s.add_messages(
            [
                {"role": "user", "content": "Quero marcar ortodontia, CPF 529.982.247-25"},
                {"role": "assistant", "content": "Claro! Qual dia?"},
                {"role": "user", "content": "Terça"},
            ]
        )
        mem.user("clinic", "maria").remember("specialty", "ortodontia")
        assert mem.flush(timeout=60)
    finally:
        mem.close()
    args = ["--postgres-url", postgres_url, "--schema", schema]
    no_keys = {"LANGMEM_ENCRYPTION_KEYS": None}
    missing = runner.invoke(app, ["rotate-keys", *args, "--json"], env=no_keys)
    assert (
        missing.exit_code == 2 and "LANGMEM_ENCRYPTION_KEYS" in json.loads(missing.stderr)["error"]
    )
    bad = runner.invoke(app, ["rotate-keys", "--key", "not-a-key", *args, "--json"], env=no_keys)
    assert bad.exit_code == 2 and json.loads(bad.stderr)["type"] == "EncryptionKeyError"
    small = runner.invoke(app, ["rotate-keys", "--key", new, "--batch", "0", *args, "--json"])
    assert small.exit_code == 2 and json.loads(small.stderr)["type"] == "InvalidInputError"

    rotated = _json(["rotate-keys", "--key", new, "--key", old, "--batch", "2", *args, "--json"])
    assert rotated["keys"] == 2 and rotated["rewritten"]["lmt_messages"] == 3
    assert rotated["rewritten"]["lmt_facts"] == 1
    assert rotated["total"] == sum(rotated["rewritten"].values())
    # again, keys from the environment (comma-separated, newest first): nothing left to do
    again = _json(
        ["rotate-keys", *args, "--json"], env={"LANGMEM_ENCRYPTION_KEYS": f" {new}, {old} "}
    )
    assert again["keys"] == 2 and again["total"] == 0
    text = runner.invoke(app, ["rotate-keys", "--key", new, *args])
    assert text.exit_code == 0 and "lmt_messages: 0" in text.stdout

    who = ["chat-1", "-t", "clinic", "-u", "maria", *args]
    view = _json(["show", *who, "--key", new, "--json"], env=no_keys)
    assert [m["content"] for m in view["messages"]][0].endswith("CPF 529.982.247-25")
    assert {f["key"]: f["value"] for f in view["facts"]} == {"specialty": "ortodontia"}
    from_env = _json(["show", *who, "--json"], env={"LANGMEM_ENCRYPTION_KEYS": new})
    assert from_env["messages"] == view["messages"]
    out = _json(["export", str(tmp_path / "e.jsonl"), "-t", "clinic", *args, "--json"],
                env={"LANGMEM_ENCRYPTION_KEYS": new})  # fmt: skip
    assert out["messages"] == 3
    # an export of an encrypted store stays encrypted, under the new key
    lines = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    tokens = [r["content"]["$enc"] for r in lines if r["type"] == "message"]
    assert "529.982.247-25" not in json.dumps(lines) and len(tokens) == 3
    opened = json.loads(FieldCipher([new]).decrypt(tokens[0]))  # sealed as JSON
    assert opened == "Quero marcar ortodontia, CPF 529.982.247-25"
    with psycopg.connect(postgres_url) as conn:
        stored = " ".join(
            str(r[0]) for r in conn.execute(f"SELECT content::text FROM {schema}.lmt_messages")
        )
    assert "529.982.247-25" not in stored and "Terça" not in stored
    stale = runner.invoke(app, ["show", *who, "--key", old, "--json"], env=no_keys)
    assert stale.exit_code == 5 and json.loads(stale.stderr)["type"] == "DecryptionError"
    keyless = runner.invoke(app, ["show", *who, "--json"], env=no_keys)
    assert keyless.exit_code == 2 and json.loads(keyless.stderr)["type"] == "EncryptionKeyError"

    # key rotations are store-wide entries: audit without --tenant
    trail = _json(["audit", *args, "--json"])["entries"]
    assert [e["action"] for e in trail] == ["rotate_keys"] * 3
    assert trail[-1]["details"]["rewritten"]["lmt_messages"] == 3
    assert trail[0]["status"] == "done" and trail[0]["details"]["keys"] == 1
    assert _json(["audit", "-t", "clinic", *args, "--json"])["entries"] == []


def test_rotate_keys_encrypt_plaintext_seals_a_plain_store(postgres_url: str, schema: str) -> None:
    _seed(postgres_url, schema)
    key = FieldCipher.generate_key()
    args = ["--postgres-url", postgres_url, "--schema", schema, "--key", key]
    plain = _json(["rotate-keys", *args, "--json"])
    assert plain["rewritten"]["lmt_messages"] == 0  # plaintext rows stay without the flag
    sealed = _json(["rotate-keys", "--encrypt-plaintext", *args, "--json"])
    assert sealed["encrypt_plaintext"] is True and sealed["rewritten"]["lmt_messages"] == 5
    with psycopg.connect(postgres_url) as conn:
        stored = " ".join(
            str(r[0]) for r in conn.execute(f"SELECT content::text FROM {schema}.lmt_messages")
        )
    assert "Ortodontia" not in stored and "lmt1:" in stored
    view = _json(["show", "chat-1", "-t", "clinic", "-u", "maria", *args, "--json"])
    assert [m["content"] for m in view["messages"]][-1] == "Ortodontia"


def test_erase_user_and_tenant_confirm_report_and_leave_nothing(
    postgres_url: str, schema: str, redis_url: str
) -> None:
    tenant = "clinic-" + uuid.uuid4().hex[:8]  # the CLI's Redis prefix is the shared default
    mem = TieredMemory.connect(
        postgres_url=postgres_url, schema=schema, redis_url=redis_url, extract_facts=False
    )
    try:
        for user, session in (("maria", "chat-1"), ("maria", "chat-2"), ("joao", "chat-9")):
            s = mem.session(tenant, user, session)
            s.add_messages(
                [
                    {"role": "user", "content": f"Sou {user}, quero marcar consulta"},
                    {"role": "assistant", "content": "Claro!"},
                ]
            )
            s.recent()  # the hot tier holds the window
        mem.user(tenant, "maria").remember("specialty", "ortodontia")
        assert mem.flush(timeout=60)
        assert mem.verify_erased(tenant, "maria")  # something to erase, in both tiers
        assert "hot_tier" in mem.verify_erased(tenant, "maria")
    finally:
        mem.close()
    args = ["--postgres-url", postgres_url, "--schema", schema, "--redis-url", redis_url]

    refused = runner.invoke(app, ["erase-user", tenant, "maria", *args])
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    declined = runner.invoke(app, ["erase-user", tenant, "maria", *args], input="n\n")
    assert declined.exit_code == 2
    assert _messages(postgres_url, schema, tenant, "maria") == 4
    bad = runner.invoke(app, ["erase-user", tenant, "bad\nid", "--yes", *args, "--json"])
    assert bad.exit_code == 2 and json.loads(bad.stderr)["type"] == "InvalidIdError"

    report = _json(["erase-user", tenant, "maria", "--yes", *args, "--json"])
    assert report["verified"] is True and report["residue"] == {}
    assert report["tenant"] == tenant and report["sessions"] == 2
    assert report["deleted"]["lmt_messages"] == 4 and report["deleted"]["lmt_facts"] == 1
    assert report["hot_keys_deleted"] > 0 and uuid.UUID(report["request_id"])
    assert _messages(postgres_url, schema, tenant, "maria") == 0
    assert _messages(postgres_url, schema, tenant, "joao") == 2
    mem = TieredMemory.connect(postgres_url=postgres_url, schema=schema, redis_url=redis_url)
    try:
        assert mem.verify_erased(tenant, "maria") == {}  # the proof, independently
        assert mem.verify_erased(tenant, "joao")
    finally:
        mem.close()
    gone = runner.invoke(app, ["show", "chat-1", "-t", tenant, "-u", "maria", *args])
    assert gone.exit_code == 4
    trail = _json(["audit", "-t", tenant, "--action", "erase_user", *args, "--json"])["entries"]
    assert [e["request_id"] for e in trail] == [report["request_id"]]
    assert trail[0]["status"] == "done" and "maria" not in json.dumps(trail)
    again = runner.invoke(app, ["erase-user", tenant, "maria", "--yes", *args])
    assert again.exit_code == 0 and "verified: nothing left" in again.stdout  # idempotent

    whole = runner.invoke(app, ["erase-tenant", tenant, *args], input="y\n")
    assert whole.exit_code == 0, whole.stderr
    assert "verified: nothing left" in whole.stdout and "lmt_messages" in whole.stdout
    assert _messages(postgres_url, schema, tenant) == 0
    assert _json(["list", "-t", tenant, *args, "--json"])["sessions"] == []
    actions = [e["action"] for e in _json(["audit", "-t", tenant, *args, "--json"])["entries"]]
    assert actions == ["erase_tenant", "erase_user", "erase_user"]  # the trail stays


def test_erasure_not_proven_exits_1(postgres_url: str, schema: str) -> None:
    _seed(postgres_url, schema)
    # a hot tier that does not answer: Postgres is erased, the proof is incomplete
    down = ["--redis-url", "redis://127.0.0.1:1/0"]
    args = ["--postgres-url", postgres_url, "--schema", schema, *down, "--yes"]
    report = _json(["erase-user", "clinic", "maria", *args, "--json"], code=1)
    assert report["verified"] is False and report["residue"] == {"hot_tier_unreachable": 1}
    assert _messages(postgres_url, schema, "clinic", "maria") == 0
    text = runner.invoke(app, ["erase-tenant", "shop", *args])
    assert text.exit_code == 1 and "NOT verified" in text.stdout
    entries = _json(["audit", "-t", "clinic", "--postgres-url", postgres_url, "--schema", schema,
                     "--json"])["entries"]  # fmt: skip
    assert [(e["action"], e["status"]) for e in entries] == [("erase_user", "failed")]


def test_audit_rejects_bad_input(postgres_url: str, schema: str) -> None:
    args = ["--postgres-url", postgres_url, "--schema", schema]
    assert runner.invoke(app, ["audit", "--limit", "0", *args]).exit_code == 2
    assert runner.invoke(app, ["audit", "--limit", "10001", *args]).exit_code == 2
    assert runner.invoke(app, ["audit", "--action", "bogus", *args]).exit_code == 2
    bad = runner.invoke(app, ["audit", "-t", "bad\nid", *args, "--json"])
    assert bad.exit_code == 2 and json.loads(bad.stderr)["type"] == "InvalidIdError"
    assert _json(["audit", *args, "--json"]) == {"tenant": None, "entries": []}
    assert set(get_args(AuditAction)) == set(get_args(AuditEntry.model_fields["action"].annotation))
