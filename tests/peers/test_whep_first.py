"""A WHEP player that comes before its publisher (SRS lets players start
first): it gets 201, connects, and decodes the stream once an aiortc
publisher arrives 3 s later.

Acceptance: the player decodes >= 90% of the video frames the publisher
sends over 10 s after it started.
"""

import asyncio

from rtc import (
    Peers,
    Publisher,
    Subscriber,
    close_all,
    connect_all,
    measure,
    run,
    wait_first_video,
    whep_url,
    whip_url,
)


async def player_first(server, stream: str) -> str:
    async with Peers() as peers:
        sub = peers.add(Subscriber("early-player"))
        await sub.signal(whep_url(server, stream))
        await connect_all(server, [sub], "WHEP player before any publisher")
        await asyncio.sleep(3.0)
        assert sub.decoded["video"] == 0, "nothing to decode before the publisher"
        pub = peers.add(Publisher("late-publisher"))
        await pub.signal(whip_url(server, stream))
        await connect_all(server, [pub, sub], "WHIP publisher after the player")
        await wait_first_video(server, pub, [sub])
        summary = await measure(server, pub, [sub], 0.90)
        totals = server.totals()
        assert totals.get("players_waiting") == 1, totals
        assert totals.get("players_wait_served") == 1, totals
        await close_all(server, [sub, pub])
        return summary


def test_player_first_then_publisher(server):
    print(run(player_first(server, "early"), 120))
