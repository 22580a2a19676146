"""A WHIP client that offers `a=setup:passive` and no candidates (as FFmpeg 8's
WHIP muxer does, see /work/shared/examples/offers/ffmpeg8_whip_gnutls.sdp):
the server must be the DTLS client and learn the address from the first STUN
check. aiortc plays that client: its offer is rewritten before the POST, and
aiortc takes the DTLS role from the answer (`a=setup:active` makes it the DTLS
server, rtcpeerconnection.py: role = "server" if the answer's role is client).
"""

from rtc import (
    Peers,
    Publisher,
    Subscriber,
    close_all,
    connect_all,
    measure,
    passive_without_candidates,
    report,
    run,
    wait_first_video,
    whep_url,
    whip_url,
)


async def passive_publish(server) -> str:
    async with Peers() as peers:
        pub = peers.add(Publisher("passive-publisher", "H264"))
        await pub.signal(whip_url(server, "passive"), munge=passive_without_candidates)
        offer = pub.offer_sent
        assert "a=setup:passive" in offer and "a=candidate" not in offer and "actpass" not in offer, offer
        setup = [l for l in pub.answer.splitlines() if l.startswith("a=setup:")]
        if not setup or any(l.strip() != "a=setup:active" for l in setup):
            raise AssertionError(await report(
                server, [pub], f"answer to a passive offer must say a=setup:active, it says {setup}:\n{pub.answer}"))
        await connect_all(server, [pub], "passive WHIP publisher (aiortc as DTLS server)")
        roles = pub.transports()
        assert "role=server" in roles, f"aiortc did not act as DTLS server: {roles}"
        sub = peers.add(Subscriber("subscriber", "H264"))
        await sub.signal(whep_url(server, "passive"))
        await connect_all(server, [pub, sub], "WHEP subscriber of the passive publisher")
        await wait_first_video(server, pub, [sub])
        summary = await measure(server, pub, [sub], 0.90)
        await close_all(server, [sub, pub])
        return summary


def test_passive_offer_without_candidates_reaches_a_subscriber(server):
    print(run(passive_publish(server), 90))
