"""aiortc across cluster nodes (docs/cluster.md, "Play anywhere"): a real
redis-server and three nodes on 127.0.0.2, .3 and .4; aiortc publishes H.264
+ Opus over WHIP on node A and plays over WHEP on nodes B and C, which pull
the stream from A. Acceptance: each player decodes >= 90% of the video
frames sent during 10 s, and A serves exactly one pull per edge node.
"""

import shutil
import socket
import subprocess
import time

import pytest

import sfu
from rtc import Peers, Publisher, Subscriber, close_all, connect_all, measure, run, wait_first_video


class Redis:
    """A `redis-server` on a free loopback port, without persistence."""

    def __init__(self):
        self.port = sfu.free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not listen on {self.port}")
                time.sleep(0.05)

    def stop(self):
        self.proc.kill()
        self.proc.wait(5)


def players_on(node) -> int:
    clients = node.get_json("/api/v1/clients?count=100")["clients"]
    return sum(1 for c in clients if c.get("type") == "rtc-play")


async def publish_on_a_play_on_b_and_c(a, b, c) -> str:
    async with Peers() as peers:
        pub = peers.add(Publisher("publisher-on-A", "H264"))
        await pub.signal(f"{a.api}/rtc/v1/whip/?app=live&stream=across")
        await connect_all(a, [pub], "WHIP publisher on node A")
        subs = [peers.add(Subscriber(f"player-on-{n}", "H264")) for n in ("B", "C")]
        for s, node in zip(subs, (b, c)):
            await s.signal(f"{node.api}/rtc/v1/whep/?app=live&stream=across")
        await connect_all(b, [pub, *subs], "WHEP players on nodes B and C")
        await wait_first_video(b, pub, subs)
        summary = await measure(b, pub, subs, 0.90)
        # One pull per edge: node A's players are exactly the two pulls.
        pulls = players_on(a)
        assert pulls == 2, f"node A serves {pulls} players, want one pull per edge node"
        await close_all(b, [*subs, pub])
        return summary


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_players_on_two_edge_nodes_decode_90_percent(built):
    redis = Redis()
    cluster = f"cluster {{ enabled on; redis 127.0.0.1:{redis.port}; lease 3; }}\n"
    nodes = []
    try:
        for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            nodes.append(sfu.Server(workers=1, ip=ip, extra=cluster))
        print(run(publish_on_a_play_on_b_and_c(*nodes), 120))
    except BaseException:
        for n, name in zip(nodes, "ABC"):
            print(f"--- node {name} log tail ---\n{n.log_tail(30)}")
        raise
    finally:
        for n in nodes:
            n.stop()
            n.cleanup()
        redis.stop()
