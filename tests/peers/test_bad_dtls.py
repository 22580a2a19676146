"""A publisher whose offer carries a wrong a=fingerprint must fail: it never
stays 'connected', the server closes its session, a WHEP subscriber of its
stream gets nothing, and /api/v1/summaries counts a `dtls_failures`. A
well-behaved pair on the same server (and at the same time) still works.
"""

import asyncio
import time

from rtc import (
    CONNECT_LIMIT,
    Peers,
    Publisher,
    Subscriber,
    close_all,
    connect_all,
    fingerprint_lines,
    measure,
    report,
    run,
    tamper_fingerprints,
    wait_first_video,
    whep_url,
    whip_url,
)

BAD_WATCH = 10.0  # seconds the tampered publisher is watched


async def bad_and_good(server) -> str:
    before = server.totals()
    async with Peers() as peers:
        bad = peers.add(Publisher("tampered-publisher", "H264"))
        good = peers.add(Publisher("good-publisher", "H264"))
        await bad.signal(whip_url(server, "tampered"), munge=tamper_fingerprints)
        assert fingerprint_lines(bad.offer_sent) != fingerprint_lines(bad.pc.localDescription.sdp)
        # Subscribe to the tampered stream while its session still exists.
        bad_sub = peers.add(Subscriber("tampered-subscriber", "H264"))
        await bad_sub.signal(whep_url(server, "tampered"))
        await good.signal(whip_url(server, "good"))

        # Watch the tampered publisher; connected for at most 1 s in a row is tolerated
        # (it may finish its own side of the handshake before the server's alert arrives).
        connected_since, longest = None, 0.0
        deadline = time.monotonic() + BAD_WATCH
        while time.monotonic() < deadline:
            if bad.pc.connectionState == "connected":
                connected_since = connected_since or time.monotonic()
                longest = max(longest, time.monotonic() - connected_since)
            else:
                connected_since = None
            await asyncio.sleep(0.1)
        problems = []
        if longest > 1.0:
            problems.append(f"tampered publisher stayed 'connected' for {longest:.1f} s")
        if bad_sub.decoded["video"] or bad_sub.decoded["audio"]:
            problems.append(f"subscriber of the tampered stream decoded {bad_sub.decoded}")
        after = server.totals()
        if "dtls_failures" not in after:
            problems.append(f"/api/v1/summaries totals has no dtls_failures counter: {sorted(after)}")
        elif after["dtls_failures"] <= before.get("dtls_failures", 0):
            problems.append(f"dtls_failures did not increase: {before.get('dtls_failures')} -> {after['dtls_failures']}")
        # The server must have closed the session: DELETE on its Location finds nothing.
        status = await asyncio.to_thread(server.delete, bad.location)
        bad.location = None
        if status != 404:
            problems.append(f"the tampered session still existed after {BAD_WATCH:.0f} s (DELETE -> {status}, want 404)")
        if problems:
            raise AssertionError(await report(server, [bad, bad_sub, good], "wrong fingerprint: " + "; ".join(problems)))

        # The well-behaved pair on the same server.
        await connect_all(server, [good], "well-behaved publisher beside the tampered one")
        sub = peers.add(Subscriber("good-subscriber", "H264"))
        await sub.signal(whep_url(server, "good"))
        await connect_all(server, [good, sub], "well-behaved subscriber")
        await wait_first_video(server, good, [sub])
        summary = await measure(server, good, [sub], 0.90)
        await close_all(server, [sub, good])
        return summary


def test_wrong_fingerprint_fails_and_others_still_work(server):
    print(run(bad_and_good(server), 30 + BAD_WATCH + 3 * CONNECT_LIMIT))
