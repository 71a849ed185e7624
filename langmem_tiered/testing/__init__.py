"""Test helpers for langmem-tiered and its integrations: real services, never stand-ins.

``langmem_tiered.testing.pytest_plugin`` holds the fixtures (load it with
``pytest_plugins = ["langmem_tiered.testing.pytest_plugin"]`` in a ``conftest.py``);
:class:`RedisServer` starts a private ``redis-server`` on a free port for tests that kill,
flush or restart Redis.
"""

from .redis_server import RedisServer, free_port

__all__ = ["RedisServer", "free_port"]
