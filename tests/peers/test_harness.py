"""The harness itself, without the server: the aiortc publisher straight into an
aiortc receiver (plain offer/answer on loopback). If this fails, the real-peer
tests' media failures say nothing about shardsfu: the machine or aiortc cannot
keep up with 640x360 at 30 fps."""

import asyncio

import pytest
from aiortc import RTCPeerConnection

from rtc import CONFIG, WINDOW, Publisher, run


async def direct(codec: str) -> str:
    pub = Publisher("publisher", codec)
    recv = RTCPeerConnection(CONFIG)
    decoded = {"video": 0, "audio": 0}
    tasks = []

    async def drain(track):
        while True:
            try:
                await track.recv()
            except Exception:
                return
            decoded[track.kind] += 1

    recv.on("track", lambda t: tasks.append(asyncio.ensure_future(drain(t))))
    try:
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        await recv.setRemoteDescription(pub.pc.localDescription)
        await recv.setLocalDescription(await recv.createAnswer())
        await pub.pc.setRemoteDescription(recv.localDescription)
        for _ in range(200):  # 20 s at most for the first decoded frame
            if decoded["video"]:
                break
            await asyncio.sleep(0.1)
        assert decoded["video"], f"no frame decoded in 20 s: {await pub.describe()}"
        s0, d0, a0, ad0 = pub.video.sent, decoded["video"], pub.audio.sent, decoded["audio"]
        await asyncio.sleep(WINDOW)
        sent, got = pub.video.sent - s0, decoded["video"] - d0
        asent, agot = pub.audio.sent - a0, decoded["audio"] - ad0
        msg = f"direct {codec}: decoded {got}/{sent} video, {agot}/{asent} audio frames in {WINDOW:.0f} s"
        assert sent >= 0.8 * 30 * WINDOW, f"publisher too slow ({sent} frames in {WINDOW:.0f} s): {msg}"
        assert got >= 0.9 * sent and agot >= 0.5 * asent, msg
        return msg
    finally:
        await pub.pc.close()
        await recv.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_publisher_to_receiver_without_server(codec):
    print(run(direct(codec), 60))
