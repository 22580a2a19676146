"""RTC → RTMP (rtc.rtc_to_rtmp on, http_remux on): an aiortc WHIP publisher
(H.264 + Opus) reads back over HTTP-FLV as H.264 + AAC, with audio starting
within 1 s of video (SRS loses the first 4-6 s of audio waiting for SRs).
"""

import asyncio
import shutil
import subprocess
import time
import urllib.request

import pytest

from rtc import Peers, Publisher, connect_all, report, run, whip_url


def flv_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200 and len(r.read(13)) == 13
    except Exception:
        return False


def probe_packets(url: str, secs: int) -> list[tuple[str, float]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-rw_timeout", "10000000", "-read_intervals", f"%+{secs}",
         "-show_entries", "packet=codec_type,pts_time", "-of", "csv=p=0", url],
        capture_output=True, text=True, timeout=30,
    ).stdout
    pkts = []
    for line in out.splitlines():
        parts = line.strip().strip(",").split(",")
        if len(parts) == 2 and parts[1] not in ("", "N/A"):
            pkts.append((parts[0], float(parts[1])))
    return pkts


def probe_codecs(url: str) -> list[str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-rw_timeout", "10000000",
         "-show_entries", "stream=codec_name", "-of", "csv=p=0", url],
        capture_output=True, text=True, timeout=30,
    ).stdout
    return [l.strip().strip(",") for l in out.splitlines() if l.strip()]


async def publish_and_read(server, stream: str) -> str:
    url = f"{server.http}/live/{stream}.flv"
    async with Peers() as peers:
        pub = peers.add(Publisher("whip", "H264"))
        await pub.signal(whip_url(server, stream))
        await connect_all(server, [pub], "WHIP publisher bridged to RTMP")
        deadline = time.monotonic() + 10
        while not await asyncio.to_thread(flv_ready, url):
            if time.monotonic() > deadline:
                raise AssertionError(await report(server, [pub], "no HTTP-FLV stream from the WHIP publisher"))
            await asyncio.sleep(0.2)
        pkts = await asyncio.to_thread(probe_packets, url, 4)
        video = [t for k, t in pkts if k == "video"]
        audio = [t for k, t in pkts if k == "audio"]
        if not video or not audio:
            raise AssertionError(await report(server, [pub], f"HTTP-FLV packets: {len(video)} video, {len(audio)} audio"))
        gap = audio[0] - video[0]
        if abs(gap) >= 1.0:
            raise AssertionError(await report(server, [pub], f"audio starts {gap:.3f} s after video"))
        codecs = await asyncio.to_thread(probe_codecs, url)
        if "h264" not in codecs or "aac" not in codecs:
            raise AssertionError(await report(server, [pub], f"HTTP-FLV codecs {codecs}"))
        return f"{len(video)} video, {len(audio)} audio packets in 4 s; audio starts {gap:+.3f} s from video; codecs {codecs}"


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
@pytest.mark.vhost_rtc("rtc_to_rtmp on; pli_for_rtmp 1; } http_remux { enabled on;")
def test_whip_publisher_reads_back_over_http_flv_as_h264_aac(server):
    print(run(publish_and_read(server, "fromrtc"), 90))
