"""A local Redis Cluster of private ``redis-server`` processes, for tests of the cluster hot tier.

:class:`LocalRedisCluster` starts ``primaries`` nodes (and ``replicas`` replicas per primary)
with ``--cluster-enabled yes`` on free ports, each in its own temporary folder, joins them with
``redis-cli --cluster create ... --cluster-yes``, and waits until every node reports
``cluster_state:ok`` and every replica is in sync. The cluster bus port of each node is a free
port of its own (``--cluster-port``), not ``port + 10000``, which may be taken or out of range.

A short ``cluster-node-timeout`` (``node_timeout_ms``) lets a replica take over within a few
seconds of its primary being killed (:meth:`LocalRedisCluster.kill_primary_of`); the nodes keep
no data on disk.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.crc import key_slot

from .redis_server import RedisServer, free_port

__all__ = ["ClusterNodeServer", "LocalRedisCluster", "NodeInfo"]


class ClusterNodeServer(RedisServer):
    """One ``redis-server --cluster-enabled yes`` on a free port, with its own bus port."""

    def __init__(self, *, node_timeout_ms: int = 1000) -> None:
        super().__init__()
        self.bus_port = free_port()
        self.node_timeout_ms = node_timeout_ms

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(self.bus_port),
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(self.node_timeout_ms),
                "--repl-diskless-sync-delay",  # a replica syncs at once, not after 5 s
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until(self._pings, f"redis-server on {self.port}", 10.0)

    def _pings(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        finally:
            client.close()

    def client(self) -> redis.Redis:
        """A plain (not cluster-aware) client of this node alone."""
        return redis.Redis(port=self.port, socket_timeout=1.0, socket_connect_timeout=0.5)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass(frozen=True)
class NodeInfo:
    """One line of ``CLUSTER NODES`` as seen by a live node."""

    node_id: str
    address: str
    primary: bool
    failed: bool
    primary_id: str | None
    slots: tuple[tuple[int, int], ...]


class LocalRedisCluster:
    """A throw-away Redis Cluster on 127.0.0.1.

    Args:
        primaries: Number of primaries (at least 3, as ``redis-cli --cluster create`` needs).
        replicas: Replicas per primary (1 lets a test kill a primary and see a failover).
        node_timeout_ms: ``cluster-node-timeout``; a primary unreachable for this long is
            marked failed and its replica is promoted.
    """

    def __init__(self, primaries: int = 3, replicas: int = 0, node_timeout_ms: int = 1000) -> None:
        if primaries < 3 or replicas < 0:
            raise ValueError("a Redis Cluster needs at least 3 primaries")
        if shutil.which("redis-cli") is None:
            raise RuntimeError("redis-cli is not installed (apt-get install redis-tools)")
        self.primaries = primaries
        self.replicas = replicas
        self.nodes = [
            ClusterNodeServer(node_timeout_ms=node_timeout_ms)
            for _ in range(primaries * (1 + replicas))
        ]

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis+cluster://`` URL with every node as a seed (what ``TieredMemory`` takes)."""
        return "redis+cluster://" + ",".join(n.address for n in self.nodes) + "/0"

    @property
    def seed_url(self) -> str:
        """Plain ``redis://`` URL of the first node (for ``RedisCluster.from_url``)."""
        return f"redis://{self.nodes[0].address}/0"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(n.address for n in self.nodes),
                    "--cluster-replicas",
                    str(self.replicas),
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self.wait_ok()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalRedisCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state -------------------------------------------------------------------------------

    def live_nodes(self) -> list[ClusterNodeServer]:
        return [n for n in self.nodes if n.alive]

    def topology(self) -> list[NodeInfo]:
        """``CLUSTER NODES`` as the first live node sees it."""
        # redis-cli gives the raw text (redis-py parses CLUSTER NODES into its own shape)
        port = str(self.live_nodes()[0].port)
        text = subprocess.run(
            ["redis-cli", "-p", port, "CLUSTER", "NODES"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        infos: list[NodeInfo] = []
        for line in text.strip().splitlines():
            fields = line.split()
            flags = fields[2].split(",")
            slots: list[tuple[int, int]] = []
            for part in fields[8:]:
                if part.startswith("["):  # a slot being migrated
                    continue
                lo, _, hi = part.partition("-")
                slots.append((int(lo), int(hi or lo)))
            infos.append(
                NodeInfo(
                    node_id=fields[0],
                    address=fields[1].split("@")[0],
                    primary="master" in flags,
                    failed="fail" in flags or "fail?" in flags,
                    primary_id=None if fields[3] == "-" else fields[3],
                    slots=tuple(slots),
                )
            )
        return infos

    def node_for_key(self, key: str) -> ClusterNodeServer:
        """The node serving ``key``'s slot now (as the first live node sees it)."""
        slot = key_slot(key.encode())
        for info in self.topology():
            if info.primary and any(lo <= slot <= hi for lo, hi in info.slots):
                return next(n for n in self.nodes if n.address == info.address)
        raise RuntimeError(f"slot {slot} is not served")

    def replica_of(self, primary: ClusterNodeServer) -> ClusterNodeServer:
        infos = self.topology()
        primary_id = next(i.node_id for i in infos if i.address == primary.address)
        address = next(i.address for i in infos if i.primary_id == primary_id)
        return next(n for n in self.nodes if n.address == address)

    def _healthy(self) -> bool:
        for node in self.live_nodes():
            client = node.client()
            try:
                info = client.cluster("INFO")
                if info.get("cluster_state") != "ok":
                    return False
                if int(info.get("cluster_known_nodes", 0)) < len(self.live_nodes()):
                    return False
                replication = client.info("replication")
                if replication.get("role") == "slave" and (
                    replication.get("master_link_status") != "up"
                    or int(replication.get("master_sync_in_progress", 0))
                ):
                    return False
            except redis.RedisError:
                return False
            finally:
                client.close()
        return True

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every live node says ``cluster_state:ok`` and every replica is synced."""
        _wait_until(self._healthy, "cluster_state:ok on every node", timeout)

    def kill_primary_of(self, key: str) -> tuple[ClusterNodeServer, ClusterNodeServer | None]:
        """``kill -9`` the primary serving ``key``; returns it and its replica (if any)."""
        primary = self.node_for_key(key)
        replica = self.replica_of(primary) if self.replicas else None
        primary.kill()
        return primary, replica

    def promoted(self, replica: ClusterNodeServer) -> bool:
        """True once ``replica`` is a primary and the cluster is healthy again."""
        client = replica.client()
        try:
            role = client.info("replication").get("role")
        except redis.RedisError:
            return False
        finally:
            client.close()
        return role == "master" and self._healthy()


def _wait_until(check: Callable[[], object], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
