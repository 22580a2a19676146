"""aiortc across cluster nodes (docs/cluster.md, "Play anywhere"): a real
redis-server and three nodes on 127.0.0.2, .3 and .4; aiortc publishes H.264
+ Opus over WHIP on node A and plays over WHEP on nodes B and C, which pull
the stream from A. Acceptance: each player decodes >= 90% of the video
frames sent during 10 s, and A serves exactly one pull per edge node.

And the live players: with `rtc_to_rtmp` on at an edge, RTMP, HTTP-FLV and
HLS players there (FFmpeg's ffprobe) get H.264 + AAC of a stream published
on the origin, each making the edge pull it by itself.
"""

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time

import pytest

import sfu
from rtc import Peers, Publisher, Subscriber, close_all, connect_all, measure, report, run, wait_first_video
from test_live_rtc_to_rtmp import probe_codecs, probe_packets


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


@contextlib.contextmanager
def cluster_nodes(specs):
    """A redis-server and one node per `specs` entry (`sfu.Server` keyword
    arguments) sharing it, named A, B, C... in order. On a failure each
    node's log tail is printed; all are stopped at the end."""
    redis = Redis()
    cluster = f"cluster {{ enabled on; redis 127.0.0.1:{redis.port}; lease 3; }}\n"
    nodes = []
    try:
        for spec in specs:
            nodes.append(sfu.Server(extra=cluster, **spec))
        yield nodes
    except BaseException:
        for n, name in zip(nodes, "ABCDEFGH"):
            print(f"--- node {name} log tail ---\n{n.log_tail(30)}")
        raise
    finally:
        for n in nodes:
            n.stop()
            n.cleanup()
        redis.stop()


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
    with cluster_nodes([{"ip": ip, "workers": 1} for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4")]) as nodes:
        print(run(publish_on_a_play_on_b_and_c(*nodes), 120))


def pulls_active(node) -> int:
    return node.get_json("/api/v1/cluster")["data"]["counters"]["pulls_active"]


def listed(node, stream: str) -> bool:
    return any(s["stream"] == stream for s in node.get_json("/api/v1/cluster")["data"]["streams"])


async def until(what: str, cond, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not await asyncio.to_thread(cond):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit} s")
        await asyncio.sleep(0.2)


async def live_players_on_b(a, b) -> str:
    async with Peers() as peers:
        pub = peers.add(Publisher("publisher-on-A", "H264"))
        await pub.signal(f"{a.api}/rtc/v1/whip/?app=live&stream=tolive")
        await connect_all(a, [pub], "WHIP publisher on node A")
        host = b.http.removeprefix("http://").split(":")[0]
        # HLS first: later its playlist would carry on across each new
        # pull after a discontinuity, where the timestamps restart, and
        # ffprobe's "%+3" read interval would never end.
        urls = {
            "hls": f"{b.http}/live/tolive.m3u8",
            "rtmp": f"rtmp://{host}:{b.ports['rtmp']}/live/tolive",
            "flv": f"{b.http}/live/tolive.flv",
        }
        # Node B reads the directory every third of the lease (1 s).
        await until("node B's directory lists the stream", lambda: listed(b, "live/tolive"), 10)
        seen = []
        for kind, url in urls.items():
            # Each kind of player starts the pull by itself.
            # (HLS requests keep the pull 30 s: HLS_KEEP.)
            await until(f"node B's pull ended before {kind}", lambda: pulls_active(b) == 0, 40)
            codecs = await asyncio.to_thread(probe_codecs, url)
            if "h264" not in codecs or "aac" not in codecs:
                raise AssertionError(await report(b, [pub], f"{kind} on node B: codecs {codecs}"))
            pkts = await asyncio.to_thread(probe_packets, url, 3)
            video = sum(1 for k, _ in pkts if k == "video")
            if video < 10:
                raise AssertionError(await report(b, [pub], f"{kind} on node B: {video} video packets in 3 s"))
            assert players_on(a) == 1, "node A serves node B's one pull"
            seen.append(f"{kind}: {codecs}, {video} video packets")
        await close_all(a, [pub])
        return "; ".join(seen)


@pytest.mark.skipif(shutil.which("redis-server") is None or shutil.which("ffprobe") is None,
                    reason="redis-server or ffprobe not installed")
def test_rtmp_flv_and_hls_players_on_an_edge_node(built):
    live = ("rtc_to_rtmp on; pli_for_rtmp 1; } http_remux { enabled on; } "
            "hls { enabled on; hls_fragment 1; hls_window 6;")
    with cluster_nodes([{"ip": "127.0.0.2", "workers": 1},
                        {"ip": "127.0.0.3", "workers": 2, "extra_vhost_rtc": live}]) as nodes:
        print(run(live_players_on_b(*nodes), 150))
