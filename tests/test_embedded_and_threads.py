"""The embedded default's entry points, and one sync memory shared by threads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from langmem_tiered import TieredMemory


def test_no_argument_memory_uses_langmem_home(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        from langmem_tiered import TieredMemory
        with TieredMemory() as m:
            s = m.session("t", "u", "s")
            s.add_message(role="user", content="hello")
            print(len(s.messages()), m.path)
        """
    )
    env = dict(os.environ, LANGMEM_HOME=str(tmp_path / "home"), PYTHONWARNINGS="ignore")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", str(tmp_path / "home")]
    assert (tmp_path / "home" / "pgdata" / "PG_VERSION").exists()


def test_threads_share_one_sync_memory(memory: TieredMemory) -> None:
    s = memory.session("t", "u", "threads")

    def worker(n: int) -> list[int]:
        return [s.add_message(role="user", content=f"{n}-{i}").seq or 0 for i in range(50)]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(worker, range(4)))
    for seqs in results:
        assert seqs == sorted(seqs)
    stored = s.messages()
    assert [m.seq for m in stored] == list(range(1, 201))
    recent = [m.model_dump_json() for m in s.recent(10)]
    assert recent == [m.model_dump_json() for m in stored[-10:]]
