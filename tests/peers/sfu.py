"""Starting the real `shardsfu` binary for a real-peer test, and asking its API.

Mirrors tests/common/mod.rs: everything on 127.0.0.1 with free ports,
`candidate 127.0.0.1`, and the browser pages of tests/browser/www served by
the server's own http_server. The server's output goes to a file whose tail
every failure message carries.
"""

from __future__ import annotations

import json
import re
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WWW = ROOT / "tests" / "browser" / "www"


def binary() -> Path:
    """The server binary: $SHARDSFU_BIN, else target/debug/shardsfu (built by `cargo build`)."""
    return Path(os.environ.get("SHARDSFU_BIN", ROOT / "target" / "debug" / "shardsfu"))


def build() -> None:
    """Builds the debug binary unless SHARDSFU_BIN names one. Offline: the
    tests run in a namespace without network; scripts/test fetched the crates."""
    if "SHARDSFU_BIN" in os.environ:
        return
    subprocess.run(
        ["cargo", "build", "--offline", "--quiet", "-p", "shardsfu", "--bin", "shardsfu"],
        cwd=ROOT,
        check=True,
        timeout=1200,
    )


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 right now (bounded tries),
    from below the kernel's ephemeral range: a port from that range could be
    handed to a client socket between this probe and the server's bind."""
    low = 10000
    high = max(_ephemeral_low(), low + 1000)
    for _ in range(200):
        port = random.randrange(low, high)
        if port in _GIVEN:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                t.bind(("127.0.0.1", port))
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port on 127.0.0.1 in {low}..{high} after 200 tries")


class Server:
    """A running shardsfu; `stop()` sends SIGTERM (then SIGKILL after 5 s)."""

    def __init__(self, workers: int = 2, extra_vhost_rtc: str = "", env: dict | None = None,
                 dual_stack: bool = False, ip: str = "127.0.0.1", extra: str = ""):
        """`dual_stack`: every listener on `[::]` (IPv4 and IPv6 on one socket),
        candidates ::1 and 127.0.0.1, and `api6`, the API's URL over ::1.
        `ip`: another loopback address to listen on (a cluster node);
        `extra`: configuration appended (e.g. a `cluster { }` block)."""
        self.dir = Path(tempfile.mkdtemp(prefix="shardsfu-peers-"))
        self.ports = {k: free_port() for k in ("rtmp", "api", "http", "rtc")}
        self.ip = ip
        self.api = f"http://{ip}:{self.ports['api']}"
        self.api6 = f"http://[::1]:{self.ports['api']}"
        self.http = f"http://{ip}:{self.ports['http']}"
        host = "[::]" if dual_stack else ip
        candidate = "::1 127.0.0.1" if dual_stack else ip
        conf = (
            f"listen {host}:{self.ports['rtmp']};\nmax_connections 1000;\ndaemon off;\n"
            f"srs_log_tank console;\nworkers {workers};\n"
            # stop() sends SIGTERM: drain for at most 1 s (SRS's default is 3.2 s).
            "grace_final_wait 1000;\n"
            f"http_server {{ enabled on; listen {host}:{self.ports['http']}; dir {WWW}; }}\n"
            f"http_api {{ enabled on; listen {host}:{self.ports['api']}; }}\n"
            f"rtc_server {{ enabled on; listen {host}:{self.ports['rtc']}; candidate {candidate}; }}\n"
            f"vhost __defaultVhost__ {{ rtc {{ enabled on; {extra_vhost_rtc} }} }}\n"
            f"{extra}"
        )
        (self.dir / "test.conf").write_text(conf)
        self.log_path = self.dir / "server.log"
        child_env = {k: v for k, v in os.environ.items() if not (k.startswith("SRS_") or k == "CANDIDATE")}
        child_env.setdefault("RUST_LOG", "info,rtc_dtls=error")
        child_env.setdefault("NO_COLOR", "1")
        child_env.update(env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary()), "-c", str(self.dir / "test.conf")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
        )
        self._wait_listening(10.0)

    def _wait_listening(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shardsfu exited early ({self.proc.returncode}):\n{self.log_tail()}")
            # Listening is not enough: one shard's port may answer before
            # the other shards have bound theirs. Wait for `ready`.
            try:
                with urllib.request.urlopen(self.api + "/api/v1/summaries", timeout=2) as r:
                    if json.loads(r.read()).get("data", {}).get("ready", True):
                        return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"shardsfu did not listen on {self.api} within {limit}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def log_text(self) -> str:
        """The server's output so far, without colour escapes."""
        try:
            return re.sub(r"\x1b\[[0-9;]*m", "", self.log_path.read_text(errors="replace"))
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return "--- shardsfu log (last %d lines) ---\n%s\n--- end of log ---" % (len(tail), "\n".join(tail))

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.api + path, timeout=5) as r:
            return json.loads(r.read())

    def totals(self) -> dict:
        """`data.totals` of /api/v1/summaries (every shard's counters added up)."""
        return self.get_json("/api/v1/summaries").get("data", {}).get("totals", {})

    def per_shard(self) -> list:
        return self.get_json("/api/v1/summaries").get("data", {}).get("per_shard", [])

    def delete(self, location: str) -> int:
        """DELETE a session's Location (relative or absolute); returns the status."""
        url = location if location.startswith("http") else self.api + location
        req = urllib.request.Request(url, method="DELETE")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
