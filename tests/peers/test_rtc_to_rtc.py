"""aiortc publishes over WHIP, aiortc subscribers play over WHEP (workers 2).

Acceptance: a subscriber decodes >= 90% of the video frames sent during 10 s,
for H.264+Opus and VP8+Opus; audio frames arrive; several subscribers (spread
over both shards by the kernel's SO_REUSEPORT hash) all decode.
"""

import pytest

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


async def publish_and_play(server, stream: str, codec: str, n_subs: int, min_ratio: float) -> str:
    async with Peers() as peers:
        pub = peers.add(Publisher("publisher", codec))
        await pub.signal(whip_url(server, stream))
        await connect_all(server, [pub], f"WHIP {codec} publisher")
        subs = [peers.add(Subscriber(f"subscriber{i}", codec)) for i in range(n_subs)]
        for s in subs:
            await s.signal(whep_url(server, stream))
        await connect_all(server, [pub, *subs], f"WHEP {codec} subscribers")
        await wait_first_video(server, pub, subs)
        summary = await measure(server, pub, subs, min_ratio)
        await close_all(server, [*subs, pub])
        return summary


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_one_subscriber_decodes_90_percent(server, codec):
    print(run(publish_and_play(server, f"one-{codec.lower()}", codec, 1, 0.90), 120))


def test_four_subscribers_on_two_shards_all_decode(server):
    # With 4 decoders and the encoder in one Python process on a shared
    # 2-core machine, each must still decode 75% of what was sent.
    print(run(publish_and_play(server, "four", "H264", 4, 0.75), 150))
