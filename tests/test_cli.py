"""The command line against real Postgres (and Redis): backfill and recall, listings, show,
export/import, clear/delete, migrate, bench; ``--json`` output and exit codes."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from langmem_tiered import TieredMemory
from langmem_tiered.cli import app

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
