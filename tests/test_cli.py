"""The command line: backfill (with its JSON report) and recall, against real Postgres."""

from __future__ import annotations

import json

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
