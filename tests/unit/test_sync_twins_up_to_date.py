"""Every langmem_tiered/**/*_async.py must have an up-to-date generated sync twin."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

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


def test_sync_twins_up_to_date() -> None:
    a2s = _load_tool()
    drift = a2s.check(a2s.find_sources())
    assert drift == [], (
        f"sync twins missing or out of date: {drift}; "
        "regenerate with: python tools/async_to_sync.py"
    )
