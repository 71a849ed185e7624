"""The integration's tests run on real PostgreSQL (+pgvector) and real Redis, as the core's do:
the fixtures are ``langmem_tiered.testing.pytest_plugin``."""

from __future__ import annotations

import os

# Tests that are not about recall do not load the offline embedder (subprocesses inherit this).
os.environ["LANGMEM_EMBEDDER"] = "none"

pytest_plugins = ["langmem_tiered.testing.pytest_plugin"]
