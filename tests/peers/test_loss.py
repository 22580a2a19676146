"""Quality under loss (workers 2): with 5% random loss on one leg, an aiortc
subscriber decodes at least 90% as many video frames as one on a clean link
over the same 8 s, because shardsfu answers NACKs from its history (toward
subscribers) and sends NACKs to the publisher (publisher leg).

The publishers send grained video at about 1 Mbps (4 packets a frame), as a
640x360 camera would. The plain test pattern compresses to one packet a
frame, and then aiortc's jitter buffer (which releases at most one frame per
arriving packet) turns every wait for a retransmission into latency it never
catches up on, so the count measured aiortc, not the server. With `nack off`
the lossy subscriber decodes about half the frames; with it on, all.
"""

import asyncio

from relay import start_relay
from rtc import Peers, Publisher, Subscriber, close_all, connect_all, report, run, wait_first_video, whep_url, whip_url

WINDOW = 8.0
LOSS = 0.05


async def decoded_over(subs, seconds: float) -> list[int]:
    before = [s.decoded["video"] for s in subs]
    await asyncio.sleep(seconds)
    return [s.decoded["video"] - b for s, b in zip(subs, before)]


def test_subscriber_leg_loss(server):
    async def main():
        relay = await start_relay(server, LOSS)
        async with Peers() as peers:
            pub = peers.add(Publisher("publisher", grain=True))
            await pub.signal(whip_url(server, "lossy-sub"))
            await connect_all(server, [pub], "publisher")
            clean = peers.add(Subscriber("clean"))
            lossy = peers.add(Subscriber("lossy"))
            await clean.signal(whep_url(server, "lossy-sub"))
            await lossy.signal(whep_url(server, "lossy-sub") + f"&eip=127.0.0.1:{relay.port}")
            assert f"127.0.0.1 {relay.port} typ host" in lossy.answer
            await connect_all(server, [pub, clean, lossy], "subscribers")
            await wait_first_video(server, pub, [clean, lossy])
            c, l = await decoded_over([clean, lossy], WINDOW)
            totals = server.totals()
            msg = (f"clean decoded {c}, lossy decoded {l} video frames in {WINDOW:.0f} s; relay passed "
                   f"{relay.passed}, dropped {relay.dropped}; retransmitted {totals.get('retransmitted')}, "
                   f"refused {totals.get('retransmit_refused')}")
            print(msg)
            if not (relay.dropped > 0 and c > 0 and l >= 0.9 * c and totals.get("retransmitted", 0) > 0):
                raise AssertionError(await report(server, [pub, clean, lossy], msg))
            await close_all(server, [clean, lossy, pub])

    run(main(), 120)


def test_publisher_leg_loss(server):
    async def main():
        relay = await start_relay(server, LOSS)
        async with Peers() as peers:
            clean_pub = peers.add(Publisher("clean-publisher", grain=True))
            lossy_pub = peers.add(Publisher("lossy-publisher", grain=True))
            await clean_pub.signal(whip_url(server, "clean-pub"))
            await lossy_pub.signal(whip_url(server, "lossy-pub") + f"&eip=127.0.0.1:{relay.port}")
            await connect_all(server, [clean_pub, lossy_pub], "publishers")
            clean = peers.add(Subscriber("clean"))
            behind = peers.add(Subscriber("behind-lossy-publisher"))
            await clean.signal(whep_url(server, "clean-pub"))
            await behind.signal(whep_url(server, "lossy-pub"))
            await connect_all(server, [clean, behind], "subscribers")
            await wait_first_video(server, lossy_pub, [clean, behind])
            c, l = await decoded_over([clean, behind], WINDOW)
            totals = server.totals()
            msg = (f"clean decoded {c}, behind the lossy publisher {l} video frames in {WINDOW:.0f} s; relay "
                   f"dropped {relay.dropped}; NACKs sent {totals.get('nacks_sent')}")
            print(msg)
            if not (relay.dropped > 0 and c > 0 and l >= 0.9 * c and totals.get("nacks_sent", 0) > 0):
                raise AssertionError(await report(server, [lossy_pub, clean, behind], msg))
            await close_all(server, [clean, behind, clean_pub, lossy_pub])

    run(main(), 120)
