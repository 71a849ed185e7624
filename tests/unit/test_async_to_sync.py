"""Unit tests for tools/async_to_sync.py (the *_async.py -> sync twin generator)."""

from __future__ import annotations

import ast
import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

TOOL_PATH = Path(__file__).resolve().parents[2] / "tools" / "async_to_sync.py"


def _load_tool() -> ModuleType:
    name = "async_to_sync"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TOOL_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


a2s = _load_tool()


def _write(tmp_path: Path, source: str, name: str = "_mod_async.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def _gen(tmp_path: Path, source: str) -> str:
    return a2s.generate(_write(tmp_path, source), format=False)


def _assert_sync(tmp_path: Path, source: str, expected: str) -> str:
    out = _gen(tmp_path, source)
    assert ast.dump(ast.parse(out)) == ast.dump(ast.parse(textwrap.dedent(expected))), out
    return out


def test_async_def_and_await_removed(tmp_path: Path) -> None:
    out = _assert_sync(
        tmp_path,
        """
        async def fetch(conn):
            x = await conn.execute("select 1")
            return await x.fetchone()
        """,
        """
        def fetch(conn):
            x = conn.execute("select 1")
            return x.fetchone()
        """,
    )
    body = out.split("\n", 1)[1]  # skip the header (it names the source file)
    assert "await" not in body and "async" not in body


def test_async_with_for_and_comprehensions(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        async def run(pool, cur):
            async with pool.connection() as conn, conn.cursor() as c:
                async for row in c:
                    print(row)
                else:
                    pass
            rows = [r async for r in cur if r]
            keys = {k: v async for k, v in cur}
            gen = (await f(r) async for r in cur)
        """,
        """
        def run(pool, cur):
            with pool.connection() as conn, conn.cursor() as c:
                for row in c:
                    print(row)
                else:
                    pass
            rows = [r for r in cur if r]
            keys = {k: v for k, v in cur}
            gen = (f(r) for r in cur)
        """,
    )


def test_renames_names_attributes_defs_and_strings(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        from collections.abc import AsyncIterator, Awaitable

        __all__ = ["AsyncTieredMemory", "helper"]

        class AsyncTieredMemory:
            async def __aenter__(self) -> "AsyncTieredMemory":
                return self

            async def __aexit__(self, *exc: object) -> None:
                await self.aclose()

            async def aclose(self) -> None:
                await anext(aiter(self._items))

            def rows(self, cb: Awaitable[int]) -> AsyncIterator["AsyncSession"]:
                return make(aclose=True, conn=AsyncConnection)
        """,
        """
        from collections.abc import Iterator, Awaitable

        __all__ = ["TieredMemory", "helper"]

        class TieredMemory:
            def __enter__(self) -> "TieredMemory":
                return self

            def __exit__(self, *exc: object) -> None:
                self.close()

            def close(self) -> None:
                next(iter(self._items))

            def rows(self, cb: Awaitable[int]) -> Iterator["Session"]:
                return make(aclose=True, conn=Connection)
        """,
    )


def test_string_annotation_expression_is_renamed(tmp_path: Path) -> None:
    out = _gen(
        tmp_path,
        """
        def f(s: "AsyncIterator[AsyncSession]") -> "AsyncGenerator[int, None]":
            return "AsyncIterator[AsyncSession]"
        """,
    )
    func = ast.parse(out).body[0]
    assert isinstance(func, ast.FunctionDef)
    ann = func.args.args[0].annotation
    assert isinstance(ann, ast.Constant) and ann.value == "Iterator[Session]"
    assert isinstance(func.returns, ast.Constant)
    assert func.returns.value == "Generator[int, None]"
    # plain (non-annotation) strings are renamed only when exactly a renamed name
    assert "return 'AsyncIterator[AsyncSession]'" in out


def test_import_renames_and_async_module_paths(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        from contextlib import asynccontextmanager
        from psycopg import AsyncConnection, AsyncCursor
        from psycopg_pool import AsyncConnectionPool as Pool
        from tenacity import AsyncRetrying
        from . import _redis_async
        from .store._pg_async import AsyncPostgresStore
        from langmem_tiered.tiers._inprocess_async import AsyncInProcessTier
        from ..tiers import _redis_async as tiermod
        from thirdparty import run_async
        import langmem_tiered._engine_async

        x = _redis_async.AsyncRedisTier()
        y = langmem_tiered._engine_async.AsyncTieredMemory
        z = run_async
        """,
        """
        from contextlib import contextmanager
        from psycopg import Connection, Cursor
        from psycopg_pool import ConnectionPool as Pool
        from tenacity import Retrying
        from . import _redis
        from .store._pg import PostgresStore
        from langmem_tiered.tiers._inprocess import InProcessTier
        from ..tiers import _redis as tiermod
        from thirdparty import run_async
        import langmem_tiered._engine

        x = _redis.RedisTier()
        y = langmem_tiered._engine.TieredMemory
        z = run_async
        """,
    )


def test_redis_asyncio_module_rename(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        import redis.asyncio as aioredis
        import redis.asyncio
        from redis.asyncio import Redis
        from redis.asyncio.client import Pipeline

        c = aioredis.Redis()
        d = redis.asyncio.Redis.from_url("redis://")
        """,
        """
        import redis as aioredis
        import redis
        from redis import Redis
        from redis.client import Pipeline

        c = aioredis.Redis()
        d = redis.Redis.from_url("redis://")
        """,
    )


def test_asyncio_left_alone(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        import asyncio

        lock = asyncio.Lock()
        """,
        """
        import asyncio

        lock = asyncio.Lock()
        """,
    )


def test_async_marker_with_else(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        async def f():
            if ASYNC:
                await asyncio.sleep(0)
                a = 1
            else:
                time.sleep(0)
                a = 2
            return a
        """,
        """
        def f():
            time.sleep(0)
            a = 2
            return a
        """,
    )


def test_async_marker_without_else_and_variants(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        async def f():
            if ASYNC:
                await asyncio.sleep(0)
            if not ASYNC:
                sync_only()
            else:
                async_only()
            x = "a" if ASYNC else "s"
            return x

        async def g():
            if ASYNC:
                await only_async()

        if cond:
            pass
        elif ASYNC:
            a()
        else:
            b()
        """,
        """
        def f():
            sync_only()
            x = "s"
            return x

        def g():
            pass

        if cond:
            pass
        else:
            b()
        """,
    )


def test_async_import_removed(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        from ._acompat import ASYNC
        from .._acompat import ASYNC, to_thread
        from langmem_tiered._acompat import (
            ASYNC,
        )

        async def f():
            if ASYNC:
                pass
            return await to_thread(g)
        """,
        """
        from .._acompat import call_sync

        def f():
            return call_sync(g)
        """,
    )


def test_header_and_docstring(tmp_path: Path) -> None:
    src = _write(
        tmp_path,
        '''
        """Module docstring.

        Long text.
        """

        async def f() -> None:
            """Function doc."""
            await g()
        ''',
        name="_thing_async.py",
    )
    for fmt in (False, True):
        out = a2s.generate(src, format=fmt)
        first = out.splitlines()[0]
        assert first.startswith("# WARNING: this file is generated from ")
        assert first.endswith("_thing_async.py by tools/async_to_sync.py. DO NOT EDIT.")
        assert ast.get_docstring(ast.parse(out)) == "Module docstring.\n\nLong text."
    assert a2s.sync_path(src) == tmp_path / "_thing.py"
    with pytest.raises(ValueError):
        a2s.sync_path(tmp_path / "_thing.py")


def test_header_uses_repo_relative_path() -> None:
    src = TOOL_PATH.parent.parent / "langmem_tiered" / "store" / "_pg_async.py"
    assert a2s._display(src) == "langmem_tiered/store/_pg_async.py"


def test_check_detects_missing_and_drift(tmp_path: Path) -> None:
    src = _write(
        tmp_path,
        '''
        """Doc."""
        from psycopg import AsyncCursor, AsyncConnection
        import os

        async def f(conn: AsyncConnection) -> None:
            """Run it.

                Indented detail.
            """
            await conn.execute("select 1")
        ''',
    )
    twin = tmp_path / "_mod.py"

    assert a2s.check([src]) == ["_mod.py"]  # missing
    assert a2s.main(["--check", str(src)]) == 1

    assert a2s.write([src]) == ["_mod.py"]
    assert twin.exists()
    assert a2s.check([src]) == []
    assert a2s.main(["--check", str(src)]) == 0
    assert a2s.write([src]) == []  # idempotent

    # Formatting / import order / docstring layout differences are not drift.
    twin.write_text(
        textwrap.dedent(
            '''
            """Doc."""
            import os
            from psycopg import (
                Connection,
            )
            from psycopg import Cursor
            def f(conn : Connection) -> None:
                """Run it.

                Indented detail."""
                conn.execute('select 1')
            '''
        ),
        encoding="utf-8",
    )
    assert a2s.check([src]) == []

    # A real code change is drift.
    twin.write_text(twin.read_text().replace("select 1", "select 2"))
    assert a2s.check([src]) == ["_mod.py"]

    # So is a source change that was not regenerated.
    a2s.write([src])
    src.write_text(src.read_text() + "\n\nasync def g() -> None:\n    pass\n")
    assert a2s.check([src]) == ["_mod.py"]
    a2s.write([src])
    assert a2s.check([src]) == []


def test_multiline_strings_stay_triple_quoted(tmp_path: Path) -> None:
    tq = '"' * 3  # keep this test file free of nested triple quotes
    values = {
        "SQL": '\nSELECT 1 -- it\'s "quoted" \\ backslash\n',
        "EDGE": 'ends with quotes ""\n"""',
        "FSTR": "unused",
    }
    source = "\n".join(
        [
            f"SQL = {tq}{values['SQL'].replace(chr(92), chr(92) * 2)}{tq}",
            f"EDGE = {values['EDGE']!r}",
            'F = f"line\\n{x}"',
            'ONE = "no newline"',
        ]
    )
    out = _gen(tmp_path, source)
    tree = ast.parse(out)
    got = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    assert got == {"SQL": values["SQL"], "EDGE": values["EDGE"], "ONE": "no newline"}
    assert ast.dump(tree) == ast.dump(ast.parse(source))
    assert "\nSELECT 1 -- it's" in out  # a real newline in the output, not an escape


def test_alock_and_to_thread_renames(tmp_path: Path) -> None:
    _assert_sync(
        tmp_path,
        """
        from ._acompat import ALock, to_thread

        class AsyncInProcessTier:
            def __init__(self) -> None:
                self._lock = ALock()

            async def get(self) -> int:
                async with self._lock:
                    return await to_thread(compute, 1)
        """,
        """
        from ._acompat import Lock, call_sync

        class InProcessTier:
            def __init__(self) -> None:
                self._lock = Lock()

            def get(self) -> int:
                with self._lock:
                    return call_sync(compute, 1)
        """,
    )


def test_find_sources(tmp_path: Path) -> None:
    pkg = tmp_path / "langmem_tiered" / "store"
    pkg.mkdir(parents=True)
    (pkg / "_pg_async.py").write_text("")
    (pkg / "_pg.py").write_text("")
    (pkg / "_async.py").write_text("")
    (tmp_path / "integrations").mkdir()
    (tmp_path / "integrations" / "x_async.py").write_text("")
    (tmp_path / "other_async.py").write_text("")
    found = [p.relative_to(tmp_path).as_posix() for p in a2s.find_sources(tmp_path)]
    assert found == ["integrations/x_async.py", "langmem_tiered/store/_pg_async.py"]
