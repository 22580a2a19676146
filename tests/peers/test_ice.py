"""Signaling and ICE alone, with real aiortc peers (workers 2): the WHIP and WHEP
answers are accepted by aiortc, and its connectivity checks against the
ICE-lite server succeed, also for an offer without candidates and
`a=setup:passive`. These hold before DTLS and media exist; the media tests
build on them."""

import asyncio
import time

from rtc import Peers, Publisher, Subscriber, passive_without_candidates, report, run, whep_url, whip_url

ICE_LIMIT = 10.0


async def wait_ice(server, peers) -> None:
    deadline = time.monotonic() + ICE_LIMIT
    while time.monotonic() < deadline:
        if all(p.pc.iceConnectionState == "completed" for p in peers):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(await report(server, peers, f"iceConnectionState not 'completed' within {ICE_LIMIT:.0f} s"))


async def ice_checks(server) -> None:
    before = server.totals().get("stun_answered", 0)
    async with Peers() as peers:
        pub = peers.add(Publisher("publisher", "H264"))
        await pub.signal(whip_url(server, "ice"))
        passive = peers.add(Publisher("passive-publisher", "VP8"))
        await passive.signal(whip_url(server, "ice-passive"), munge=passive_without_candidates)
        sub = peers.add(Subscriber("subscriber", "H264"))
        await sub.signal(whep_url(server, "ice"))
        await wait_ice(server, [pub, passive, sub])
        answered = server.totals().get("stun_answered", 0) - before
        assert answered >= 3, await report(server, peers.all, f"stun_answered grew by {answered}, want >= 3")
        statuses = {p.name: await asyncio.to_thread(server.delete, p.location) for p in peers.all}
        assert set(statuses.values()) == {200}, f"DELETE of the sessions: {statuses}\n{server.log_tail()}"
        for p in peers.all:
            p.location = None


def test_aiortc_ice_completes_against_the_ice_lite_server(server):
    run(ice_checks(server), 40)
