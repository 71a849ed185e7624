"""The core's tests run on real PostgreSQL (+pgvector) and real Redis, never stand-ins: the
fixtures are ``langmem_tiered.testing.pytest_plugin`` (shared with the integrations' tests)."""

from __future__ import annotations

import os

# Tests that are not about recall do not pay for the offline embedder: "auto" means full-text
# recall here (inherited by subprocesses too). Recall tests pass their embedder explicitly.
os.environ["LANGMEM_EMBEDDER"] = "none"

pytest_plugins = ["langmem_tiered.testing.pytest_plugin"]
