#!/usr/bin/env python3
"""Generate the sync twin of every ``*_async.py`` module (psycopg-style).

I/O code is written once, as asyncio code, in files named ``*_async.py``.  This
tool parses such a file with the stdlib :mod:`ast`, rewrites the tree into its
blocking equivalent and writes it next to the source with ``_async`` dropped
from the file name (``_engine_async.py`` -> ``_engine.py``).  The rewrite is
purely syntactic: ``async def/with/for`` and async comprehensions become their
plain forms, ``await x`` becomes ``x``, and identifiers are mapped through the
single explicit :data:`RENAMES` table (names, attributes, imported names,
def/class names, strings equal to a renamed name; keyword-argument and
parameter names are never touched).  Module paths go through
:data:`MODULE_RENAMES` and lose any ``_async`` segment suffix.  Code that must
differ is written as ``if ASYNC: <async> else: <sync>``; only the ``else`` part
survives, and the ``ASYNC`` import is dropped.  Comments are not preserved
(``ast.unparse``); the output is tidied with ruff when available, and
``--check`` compares normalised ASTs, never text, so it is formatter-agnostic.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import inspect
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# Identifier renames applied to Name ids, Attribute attrs, imported names,
# def/class names and string constants that are exactly one of these keys.
# ``Awaitable`` is deliberately NOT renamed.
RENAMES: dict[str, str] = {
    "AsyncTieredMemory": "TieredMemory",
    "AsyncSession": "Session",
    "AsyncUserHandle": "UserHandle",
    "AsyncFactsProvider": "FactsProvider",
    "AsyncHandoverProvider": "HandoverProvider",
    "AsyncRecallProvider": "RecallProvider",
    "AsyncContentCache": "ContentCache",
    "AsyncAdmin": "Admin",
    "AsyncPostgresStore": "PostgresStore",
    "AsyncRedisTier": "RedisTier",
    "AsyncInProcessTier": "InProcessTier",
    "AsyncHotTier": "HotTier",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncConnection": "Connection",
    "AsyncCursor": "Cursor",
    "AsyncRetrying": "Retrying",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "aclose": "close",
    "asynccontextmanager": "contextmanager",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "AsyncIterator": "Iterator",
    "AsyncGenerator": "Generator",
    "AsyncIterable": "Iterable",
    "anext": "next",
    "aiter": "iter",
    "to_thread": "call_sync",
    "ALock": "Lock",  # langmem_tiered._acompat: asyncio.Lock / threading.Lock
    # Protocols whose objects carry both faces (Summarizer, BlockProvider, FactExtractor...):
    "asummarize": "summarize",
    "aprovide": "provide",
    "acache_token": "cache_token",
    "aextract": "extract",
    "aembed_documents": "embed_documents",
    "aembed_query": "embed_query",
}

# Dotted module paths (prefix match, longest first).  Applied before the generic
# "module path segment ending in ``_async`` loses the suffix" rule.
MODULE_RENAMES: dict[str, str] = {
    "redis.asyncio": "redis",
}

ASYNC_MARKER = "ASYNC"
ASYNC_SUFFIX = "_async"
ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("langmem_tiered", "integrations")
HEADER = "# WARNING: this file is generated from {source} by tools/async_to_sync.py. DO NOT EDIT."


# --------------------------------------------------------------------------- #
# Name helpers
# --------------------------------------------------------------------------- #


def _strip_suffix(segment: str) -> str:
    if segment.endswith(ASYNC_SUFFIX) and len(segment) > len(ASYNC_SUFFIX):
        return segment[: -len(ASYNC_SUFFIX)]
    return segment


def rename_module(name: str) -> str:
    """Map a dotted module path to its sync counterpart."""
    for old in sorted(MODULE_RENAMES, key=len, reverse=True):
        if name == old or name.startswith(old + "."):
            name = MODULE_RENAMES[old] + name[len(old) :]
            break
    return ".".join(_strip_suffix(seg) for seg in name.split("."))


def sync_path(path: Path) -> Path:
    """``foo/bar_async.py`` -> ``foo/bar.py``."""
    stem = path.name[: -len(".py")] if path.name.endswith(".py") else ""
    if not stem.endswith(ASYNC_SUFFIX) or stem == ASYNC_SUFFIX:
        raise ValueError(f"not an *{ASYNC_SUFFIX}.py file: {path}")
    return path.with_name(stem[: -len(ASYNC_SUFFIX)] + ".py")


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _dotted_expr(name: str, ctx: ast.expr_context) -> ast.expr:
    *init, last = name.split(".")
    if not init:
        return ast.Name(id=last, ctx=ctx)
    return ast.Attribute(value=_dotted_expr(".".join(init), ast.Load()), attr=last, ctx=ctx)


def _first_party(node: ast.ImportFrom) -> bool:
    """Relative or project imports: only there do imported names lose ``_async``."""
    return node.level > 0 or (node.module or "").split(".")[0] in SOURCE_DIRS


def _marker(test: ast.expr) -> bool | None:
    """True for ``ASYNC``, False for ``not ASYNC``, None for anything else."""
    if isinstance(test, ast.Name) and test.id == ASYNC_MARKER:
        return True
    if (
        isinstance(test, ast.UnaryOp)
        and isinstance(test.op, ast.Not)
        and isinstance(test.operand, ast.Name)
        and test.operand.id == ASYNC_MARKER
    ):
        return False
    return None


# --------------------------------------------------------------------------- #
# The transformer
# --------------------------------------------------------------------------- #


class AsyncToSync(ast.NodeTransformer):
    """Rewrite an async module tree into its sync twin (in place)."""

    def __init__(
        self,
        names: dict[str, str] | None = None,
        modules: dict[str, str] | None = None,
        in_annotation: bool = False,
    ) -> None:
        self.names: dict[str, str] = {**RENAMES, **(names or {})}
        self.modules: dict[str, str] = {**MODULE_RENAMES, **(modules or {})}
        self._annotations: set[int] = set()
        self._in_annotation = int(in_annotation)

    # -- entry point -------------------------------------------------------- #

    def transform(self, tree: ast.Module) -> ast.Module:
        self._prescan(tree)
        result = self.visit(tree)
        assert isinstance(result, ast.Module)
        _fill_empty_bodies(result)
        return ast.fix_missing_locations(result)

    def _prescan(self, tree: ast.AST) -> None:
        """Collect annotation roots and module names bound by imports."""
        for node in ast.walk(tree):
            if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation:
                self._annotations.add(id(node.annotation))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.returns:
                    self._annotations.add(id(node.returns))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    new = rename_module(alias.name)
                    if alias.asname is None and new != alias.name:
                        self.modules.setdefault(alias.name, new)
            elif isinstance(node, ast.ImportFrom) and _first_party(node):
                for alias in node.names:
                    if alias.name in self.names or alias.asname is not None:
                        continue
                    new = _strip_suffix(alias.name)
                    if new != alias.name:  # ``from . import _pg_async``
                        self.names[alias.name] = new

    def visit(self, node: ast.AST) -> Any:
        if id(node) not in self._annotations:
            return super().visit(node)
        self._in_annotation += 1
        try:
            return super().visit(node)
        finally:
            self._in_annotation -= 1

    def _visit_stmts(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        holder = ast.Module(body=stmts, type_ignores=[])
        self.generic_visit(holder)
        return holder.body

    # -- async constructs --------------------------------------------------- #

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        new = ast.FunctionDef(**{f: getattr(node, f) for f in node._fields})
        return self.visit_FunctionDef(ast.copy_location(new, node))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self.names.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = self.names.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        new = ast.With(**{f: getattr(node, f) for f in node._fields})
        self.generic_visit(new)
        return ast.copy_location(new, node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        new = ast.For(**{f: getattr(node, f) for f in node._fields})
        self.generic_visit(new)
        return ast.copy_location(new, node)

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        node.is_async = 0
        self.generic_visit(node)
        return node

    def visit_Await(self, node: ast.Await) -> ast.AST:
        result = self.visit(node.value)
        assert isinstance(result, ast.AST)
        return result

    # -- ASYNC marker ------------------------------------------------------- #

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt]:
        marker = _marker(node.test)
        if marker is None:
            self.generic_visit(node)
            return node
        return self._visit_stmts(node.orelse if marker else node.body)

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        marker = _marker(node.test)
        if marker is None:
            self.generic_visit(node)
            return node
        result = self.visit(node.orelse if marker else node.body)
        assert isinstance(result, ast.AST)
        return result

    # -- renames ------------------------------------------------------------ #

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == ASYNC_MARKER and isinstance(node.ctx, ast.Load):
            return ast.copy_location(ast.Constant(value=False), node)
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        dotted = _dotted(node)
        if dotted is not None and dotted in self.modules:
            new = _dotted_expr(self.modules[dotted], node.ctx)
            return ast.copy_location(new, node)
        self.generic_visit(node)
        node.attr = self.names.get(node.attr, node.attr)
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        node.names = [a for a in node.names if a.name != ASYNC_MARKER]
        for alias in node.names:
            alias.name = rename_module(alias.name)
            if alias.asname:
                alias.asname = self.names.get(alias.asname, alias.asname)
        return node if node.names else None

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        strip = _strip_suffix if _first_party(node) else str
        if node.module:
            node.module = rename_module(node.module)
        node.names = [a for a in node.names if a.name != ASYNC_MARKER]
        for alias in node.names:
            alias.name = self.names.get(alias.name, strip(alias.name))
            if alias.asname:
                alias.asname = self.names.get(alias.asname, alias.asname)
        return node if node.names else None

    def visit_Global(self, node: ast.Global) -> ast.AST:
        node.names = [self.names.get(n, n) for n in node.names]
        return node

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.AST:
        node.names = [self.names.get(n, n) for n in node.names]
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if not isinstance(node.value, str):
            return node
        if node.value in self.names:
            node.value = self.names[node.value]
        elif self._in_annotation:  # forward reference: "AsyncIterator[X]"
            try:
                expr = ast.parse(node.value.strip(), mode="eval")
            except SyntaxError:
                return node
            before = ast.dump(expr)
            sub = AsyncToSync(self.names, self.modules, in_annotation=True)
            new = sub.visit(expr)
            if ast.dump(new) != before:
                node.value = ast.unparse(new)
        return node


def _fill_empty_bodies(tree: ast.AST) -> None:
    """Statement blocks emptied by marker/import removal get a ``pass``."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and not body and not isinstance(node, ast.Module):
            body.append(ast.Pass())


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def transform_source(source: str, filename: str = "<string>") -> ast.Module:
    """Parse async source and return the transformed (sync) module tree."""
    tree = ast.parse(source, filename=filename)
    return AsyncToSync().transform(tree)


# --------------------------------------------------------------------------- #
# Unparsing: like ast.unparse, but multi-line strings stay triple-quoted
# --------------------------------------------------------------------------- #

_BaseUnparser: Any = getattr(ast, "_Unparser", None)  # private; may vanish


def _triple_quoted(value: str) -> str | None:
    """A triple-quoted literal for ``value`` with real newlines, if one exists."""
    escaped = repr(value)[1:-1]
    newlines = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[0], escaped)
    bare = re.sub(r"\\(.)", lambda m: m[1] if m[1] in "'\"" else m[0], newlines)
    for body in (bare, newlines):
        for quote in ('"""', "'''"):
            literal = f"{quote}{body}{quote}"
            try:
                if ast.literal_eval(literal) == value:
                    return literal
            except (SyntaxError, ValueError):
                pass
    return None


if _BaseUnparser is not None:

    class _Unparser(_BaseUnparser):  # type: ignore[misc]
        _fstring_depth = 0  # class-wide: f-string parts use fresh instances

        def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
            _Unparser._fstring_depth += 1
            try:
                super().visit_JoinedStr(node)
            finally:
                _Unparser._fstring_depth -= 1

        def visit_Constant(self, node: ast.Constant) -> None:
            literal = None
            if (
                isinstance(node.value, str)
                and "\n" in node.value
                and node.kind is None
                and not _Unparser._fstring_depth
                and not getattr(self, "_avoid_backslashes", False)
            ):
                literal = _triple_quoted(node.value)
            if literal is None:
                super().visit_Constant(node)
            else:
                self.write(literal)


def unparse(tree: ast.AST) -> str:
    """``ast.unparse`` keeping multi-line strings (SQL, Lua) readable."""
    plain = ast.unparse(tree)
    if _BaseUnparser is None:
        return plain
    try:
        pretty: str = _Unparser().visit(tree)
        if ast.dump(ast.parse(pretty)) == ast.dump(ast.parse(plain)):
            return pretty
    except Exception:  # any failure: fall back to the stdlib unparser
        pass
    return plain


def _display(path: Path) -> str:
    path = path.resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


def _ruff_cmd() -> list[str] | None:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    return [exe] if exe else None


def _ruff(text: str, filename: Path) -> str:
    """Sort imports (renames can reorder them) and format; no-op without ruff."""
    cmd = _ruff_cmd()
    if cmd is None:
        return text
    steps = (
        ["check", "--fix-only", "--quiet", "--select", "I"],
        ["format", "--quiet"],
    )
    for step in steps:
        try:
            proc = subprocess.run(
                [*cmd, *step, "--stdin-filename", str(filename), "-"],
                input=text,
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"warning: ruff {step[0]} failed on {filename}: {exc}", file=sys.stderr)
            return text
        if proc.stdout:
            text = proc.stdout
    return text


def generate(path: str | Path, *, format: bool = True) -> str:
    """Return the text of the sync twin of the async module at ``path``."""
    path = Path(path)
    tree = transform_source(path.read_text(encoding="utf-8"), str(path))
    header = HEADER.format(source=_display(path))
    text = f"{header}\n{unparse(tree)}\n"
    return _ruff(text, sync_path(path.resolve())) if format else text


def _normalize(tree: ast.Module) -> str:
    """``ast.dump`` insensitive to docstring layout and import order/grouping."""
    tree = copy.deepcopy(tree)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            doc = "\n".join(line.rstrip() for line in body[0].value.value.splitlines())
            body[0].value.value = inspect.cleandoc(doc).strip()
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list):
                setattr(node, field, _normalize_imports(stmts))
    return ast.dump(tree)


def _normalize_imports(stmts: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    run: list[ast.stmt] = []
    for stmt in [*stmts, None]:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                single = copy.copy(stmt)
                single.names = [alias]
                run.append(single)
            continue
        # two async names can map to one sync name (asynccontextmanager and contextmanager):
        # the formatter merges the duplicate import, so compare without it
        out.extend({ast.dump(i): i for i in sorted(run, key=ast.dump)}.values())
        run = []
        if stmt is not None:
            out.append(stmt)
    return out


def check(paths: Iterable[str | Path]) -> list[str]:
    """Return the sync twins (display paths) that are missing or out of date."""
    drift: list[str] = []
    for src in map(Path, paths):
        twin = sync_path(src)
        if not twin.exists():
            drift.append(_display(twin))
            continue
        tree = transform_source(src.read_text(encoding="utf-8"), str(src))
        expected = ast.parse(ast.unparse(tree))  # round trip, like the real file
        try:
            actual = ast.parse(twin.read_text(encoding="utf-8"), filename=str(twin))
        except SyntaxError:
            drift.append(_display(twin))
            continue
        if _normalize(actual) != _normalize(expected):
            drift.append(_display(twin))
    return drift


def find_sources(root: Path = ROOT) -> list[Path]:
    """Every ``*_async.py`` under the package (and integrations) directories."""
    found: list[Path] = []
    for dirname in SOURCE_DIRS:
        base = root / dirname
        if base.is_dir():
            found.extend(
                p for p in base.rglob(f"*{ASYNC_SUFFIX}.py") if p.name != f"{ASYNC_SUFFIX}.py"
            )
    return sorted(found)


def write(paths: Iterable[str | Path]) -> list[str]:
    """(Re)generate the twins; return the display paths of those that changed."""
    changed: list[str] = []
    for src in map(Path, paths):
        twin = sync_path(src)
        text = generate(src)
        old = twin.read_text(encoding="utf-8") if twin.exists() else None
        if old != text:
            twin.write_text(text, encoding="utf-8")
            changed.append(_display(twin))
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if any twin drifted")
    parser.add_argument("files", nargs="*", type=Path, help="*_async.py sources")
    args = parser.parse_args(argv)

    files: list[Path] = args.files or find_sources()
    for f in files:
        try:
            sync_path(f)
        except ValueError as exc:
            parser.error(str(exc))
        if not f.is_file():
            parser.error(f"no such file: {f}")

    if args.check:
        drift = check(files)
        for twin in drift:
            print(f"out of date or missing: {twin}")
        if drift:
            print("run: python tools/async_to_sync.py", file=sys.stderr)
            return 1
        print(f"{len(files)} sync twin(s) up to date")
        return 0

    changed = write(files)
    for twin in changed:
        print(f"generated {twin}")
    print(f"{len(changed)} of {len(files)} sync twin(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
