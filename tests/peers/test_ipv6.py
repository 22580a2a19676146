"""aiortc over IPv6 and dual stack (SRS 7's IPv6 guide): one shardsfu whose
listeners are all `[::]` (IPv4 and IPv6 on one socket each, workers 2),
candidates `::1 127.0.0.1`. An aiortc publisher signals at http://[::1]
and sends over ::1; one subscriber plays over ::1, another over 127.0.0.1
through the same `[::]` sockets.

Acceptance: each side's nominated ICE pair uses the family it was given;
both subscribers decode >= 90% of the video frames sent during 10 s.
"""

import aioice.ice
import pytest

import sfu
from rtc import Peers, Publisher, Subscriber, close_all, connect_all, measure, run, wait_first_video


@pytest.fixture
def server6(built, request):
    srv = sfu.Server(workers=2, dual_stack=True)
    request.node.sfu_server = srv
    yield srv
    code = srv.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        request.node.add_report_section("call", "shardsfu log", srv.log_text()[-20000:])
    srv.cleanup()
    assert code in (0, -15, 143), f"shardsfu exited with {code} after SIGTERM\n{srv.log_tail()}"


def gather_only(address: str) -> None:
    """The one host address aioice gathers for the next peers (rtc.py's patch, per family)."""
    aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: [address]


def remote_host(peer) -> str:
    """The server address of the peer's nominated ICE pair."""
    for t in peer.pc.getTransceivers():
        conn = t.receiver.transport.transport._connection
        for pair in conn._nominated.values():
            return pair.remote_candidate.host
    return ""


async def six_and_four(server) -> str:
    stream = "dual"
    async with Peers() as peers:
        try:
            gather_only("::1")
            pub = peers.add(Publisher("publisher6"))
            await pub.signal(f"{server.api6}/rtc/v1/whip/?app=live&stream={stream}")
            sub6 = peers.add(Subscriber("subscriber6"))
            await sub6.signal(f"{server.api6}/rtc/v1/whep/?app=live&stream={stream}")
            gather_only("127.0.0.1")
            sub4 = peers.add(Subscriber("subscriber4"))
            await sub4.signal(f"{server.api}/rtc/v1/whep/?app=live&stream={stream}")
        finally:
            gather_only("127.0.0.1")
        rtc = server.ports["rtc"]
        for want in (f" udp 2130706431 ::1 {rtc} typ host", f" udp 2130706431 127.0.0.1 {rtc} typ host"):
            assert want in pub.answer, f"{want!r} not in the answer:\n{pub.answer}"
        await connect_all(server, [pub, sub6, sub4], "IPv6 publisher, IPv6 and IPv4 subscribers")
        families = {p.name: remote_host(p) for p in (pub, sub6, sub4)}
        assert families == {"publisher6": "::1", "subscriber6": "::1", "subscriber4": "127.0.0.1"}, families
        await wait_first_video(server, pub, [sub6, sub4])
        summary = await measure(server, pub, [sub6, sub4], 0.90)
        await close_all(server, [sub4, sub6, pub])
        return summary


def test_publish_and_play_over_ipv6_and_ipv4_on_one_dual_stack_server(server6):
    print(run(six_and_four(server6), 120))
