"""The default tokenizer adapter respects a user's TIKTOKEN_CACHE_DIR, offline.

llama-index-core's ``get_tokenizer`` points ``TIKTOKEN_CACHE_DIR`` at its bundled files only
while the variable is unset (``llama_index/core/utils.py``); tiktoken then reads
``$TIKTOKEN_CACHE_DIR/<sha1 of the download URL>``. Each case runs in a new interpreter
(encodings are cached per process) with a proxy that refuses every connection, so a download
attempt fails at once instead of reaching the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import llama_index.core

from llama_index.memory.langmem_tiered.adapters import _CL100K_CACHE_KEY

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache" / _CL100K_CACHE_KEY
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def _child(cache_dir: Path | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "all_proxy")}
    env.pop("TIKTOKEN_CACHE_DIR", None)
    env.pop("DATA_GYM_CACHE_DIR", None)
    env.update(OFFLINE, PYTHONPATH=str(ROOT))
    if cache_dir is not None:
        env["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    out = subprocess.run(
        [sys.executable, "-m", "tests._tiktoken_child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_bundled_file_when_unset() -> None:
    assert BUNDLED.is_file()
    result = _child(None)
    assert result["name"] == "tiktoken:cl100k_base" and result["count"] == 5
    assert str(BUNDLED) in result["opened"]
    assert result["env"] is None  # llama-index set it only while loading


def test_user_cache_dir_is_the_one_read(tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    shutil.copyfile(BUNDLED, cache / _CL100K_CACHE_KEY)
    result = _child(cache)
    assert result["name"] == "tiktoken:cl100k_base" and result["count"] == 5
    assert str(cache / _CL100K_CACHE_KEY) in result["opened"]
    assert str(BUNDLED) not in result["opened"]
    assert result["env"] == str(cache)


def test_empty_user_cache_dir_offline_fails_clearly(tmp_path: Path) -> None:
    result = _child(tmp_path)
    assert "count" not in result
    error = result["error"]
    assert "TIKTOKEN_CACHE_DIR" in error and _CL100K_CACHE_KEY in error
    assert str(BUNDLED) not in result["opened"]
    assert list(tmp_path.iterdir()) == []  # nothing half-written
