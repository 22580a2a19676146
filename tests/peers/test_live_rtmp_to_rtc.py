"""RTMP → RTC (rtc.rtmp_to_rtc on): FFmpeg pushes H.264+AAC over RTMP, an
aiortc WHEP player decodes video and (AAC re-encoded as Opus) audio frames.
"""

import asyncio
import shutil
import subprocess
import time

import pytest

from rtc import Peers, Subscriber, connect_all, report, run, whep_url


def push(server, stream: str, secs: int) -> subprocess.Popen:
    url = f"rtmp://127.0.0.1:{server.ports['rtmp']}/live/{stream}"
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
         "-bf", "0", "-g", "25", "-c:a", "aac", "-t", str(secs), "-f", "flv", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


async def play_bridged(server, stream: str) -> str:
    ff = push(server, stream, 40)
    try:
        deadline = time.monotonic() + 10
        while "proto=rtmp role=publish" not in server.log_text():
            assert ff.poll() is None, f"ffmpeg exited: {ff.stderr.read().decode()}"
            assert time.monotonic() < deadline, server.log_tail()
            await asyncio.sleep(0.1)
        async with Peers() as peers:
            sub = peers.add(Subscriber("whep", "H264"))
            await sub.signal(whep_url(server, stream))
            await connect_all(server, [sub], "WHEP player of an RTMP stream")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and (sub.decoded["video"] < 25 or sub.decoded["audio"] < 25):
                await asyncio.sleep(0.2)
            if sub.decoded["video"] < 25 or sub.decoded["audio"] < 25:
                raise AssertionError(await report(server, [sub], "too few frames decoded from the RTMP stream"))
            return sub.counts()
    finally:
        ff.kill()
        ff.wait()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.vhost_rtc("rtmp_to_rtc on;")
def test_whep_player_decodes_video_and_audio_of_rtmp_stream(server):
    print(run(play_bridged(server, "bridged"), 90))
