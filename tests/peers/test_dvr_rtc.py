"""DVR of a WebRTC publisher (rtc_to_rtmp on): an aiortc WHIP publish of
10 s (H.264 + Opus) leaves, once it is deleted, an MP4 that ffprobe reads
with H.264 and AAC for at least 9 s.
"""

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import sfu
from rtc import Peers, Publisher, connect_all, report, run, whip_url


def probe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=30,
    ).stdout
    return json.loads(out or "{}")


async def publish_for(server, stream: str, secs: float, out: Path) -> str:
    async with Peers() as peers:
        pub = peers.add(Publisher("whip", "H264"))
        await pub.signal(whip_url(server, stream))
        await connect_all(server, [pub], "WHIP publisher recorded")
        await asyncio.sleep(secs)
        await pub.close(server)
    deadline = time.monotonic() + 10
    while not (out.exists() and not out.with_name(out.name + ".tmp").exists()):
        if time.monotonic() > deadline:
            raise AssertionError(await report(server, [pub], f"no finished recording at {out}"))
        await asyncio.sleep(0.2)
    p = await asyncio.to_thread(probe, out)
    codecs = [s.get("codec_name") for s in p.get("streams", [])]
    duration = float(p.get("format", {}).get("duration", 0))
    if "h264" not in codecs or "aac" not in codecs or duration < 9.0:
        raise AssertionError(await report(server, [pub], f"{out}: codecs {codecs}, duration {duration}"))
    return f"{out.name}: codecs {codecs}, {duration:.2f} s"


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_whip_publish_is_recorded_as_mp4(built):
    rec = Path(tempfile.mkdtemp(prefix="shardsfu-dvr-"))
    server = sfu.Server(
        workers=2,
        extra_vhost_rtc=f"rtc_to_rtmp on; pli_for_rtmp 1; }} dvr {{ enabled on; dvr_path {rec}/[app]/[stream].mp4;",
    )
    try:
        print(run(publish_for(server, "recorded", 10.5, rec / "live" / "recorded.mp4"), 90))
    finally:
        server.stop()
        server.cleanup()
        shutil.rmtree(rec, ignore_errors=True)
