"""aiortc WHIP publishers and WHEP subscribers for the real-peer tests.

Import this before creating any RTCPeerConnection: it patches aioice so that
127.0.0.1 is gathered (aioice skips loopback), and every peer is made with no
ICE servers (aiortc would otherwise ask a public STUN server).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Callable, Optional

import aioice.ice
import av
import numpy as np
from aiohttp import ClientSession, ClientTimeout
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

# Only loopback exists in the test namespace; aioice would gather nothing.
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]

CONFIG = RTCConfiguration(iceServers=[])
WIDTH, HEIGHT, FPS = 640, 360, 30
AUDIO_RATE, AUDIO_SAMPLES = 48000, 960  # 20 ms frames
HTTP_TIMEOUT = ClientTimeout(total=10)


class PatternVideoTrack(MediaStreamTrack):
    """A moving pattern, 640x360 at 30 fps, in yuv420p; counts frames handed to the encoder.

    With `grain`, every frame carries fresh noise, so the encoder spends its
    whole target bitrate (about 1 Mbps in aiortc) as camera video does,
    instead of one packet a frame.
    """

    kind = "video"

    def __init__(self, grain: bool = False) -> None:
        super().__init__()
        x = np.arange(WIDTH, dtype=np.uint16)
        y = np.arange(HEIGHT, dtype=np.uint16)[:, None]
        self._luma = ((x + y) % 256).astype(np.uint8)
        self._chroma = np.full((HEIGHT // 2, WIDTH), 128, dtype=np.uint8)
        self.sent = 0
        self._start: Optional[float] = None
        rng = np.random.default_rng(1)
        self._grain = [rng.integers(0, 24, (HEIGHT, WIDTH), dtype=np.uint8) for _ in range(8)] if grain else None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self.sent / FPS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        shift = (self.sent * 8) % WIDTH
        plane = np.roll(self._luma, shift, axis=1)
        # A block whose position encodes the frame number, so every frame differs.
        bx = (self.sent * 5) % (WIDTH - 64)
        plane[100:164, bx : bx + 64] = 255 - plane[100:164, bx : bx + 64]
        if self._grain is not None:
            plane = np.minimum(plane, 231) + self._grain[self.sent % len(self._grain)]
        frame = av.VideoFrame.from_ndarray(np.vstack([plane, self._chroma]), format="yuv420p")
        frame.pts = self.sent * (90000 // FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        self.sent += 1
        return frame


class SineAudioTrack(MediaStreamTrack):
    """A 440 Hz sine, 48 kHz mono s16 in 20 ms frames; counts frames handed to the encoder."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self._start: Optional[float] = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self.sent * AUDIO_SAMPLES / AUDIO_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        t = (np.arange(AUDIO_SAMPLES) + self.sent * AUDIO_SAMPLES) / AUDIO_RATE
        samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.sent * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.sent += 1
        return frame


def prefer_codec(transceiver, kind: str, mime: str, caps_of=RTCRtpSender) -> None:
    """setCodecPreferences: `mime` (e.g. video/H264) first and only, plus its rtx."""
    caps = caps_of.getCapabilities(kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == mime.lower()]
    if not chosen:
        raise AssertionError(f"aiortc offers no {mime}: {[c.mimeType for c in caps]}")
    rtx = [c for c in caps if c.mimeType.lower() == f"{kind}/rtx"]
    transceiver.setCodecPreferences(chosen + rtx)


def fingerprint_lines(sdp: str) -> list[str]:
    return [l for l in sdp.splitlines() if l.startswith("a=fingerprint:")]


def tamper_fingerprints(sdp: str) -> str:
    """Flips the first hex digit of every a=fingerprint (all hash algorithms)."""
    out = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=fingerprint:"):
            algo, value = line.split(" ", 1)
            first = "0" if value[0] != "0" else "1"
            line = f"{algo} {first}{value[1:]}"
        out.append(line)
    return "\r\n".join(out)


def passive_without_candidates(sdp: str) -> str:
    """Like FFmpeg 8's WHIP muxer: a=setup:passive, no candidates, port 9, c=0.0.0.0."""
    out = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:") or line.startswith("a=end-of-candidates"):
            continue
        if line == "a=setup:actpass":
            line = "a=setup:passive"
        elif line.startswith("m="):
            parts = line.split(" ")
            parts[1] = "9"
            line = " ".join(parts)
        elif line.startswith("c=IN IP4 "):
            line = "c=IN IP4 0.0.0.0"
        out.append(line)
    return "\r\n".join(out)


class Peer:
    """One RTCPeerConnection with its WHIP/WHEP session; state history kept for reports."""

    stat_types = ("outbound-rtp", "inbound-rtp", "remote-inbound-rtp", "remote-outbound-rtp")

    def __init__(self, name: str) -> None:
        self.name = name
        self.pc = RTCPeerConnection(CONFIG)
        self.location: Optional[str] = None
        self.offer_sent = ""
        self.answer = ""
        self.status: Optional[int] = None
        self.history: list[tuple[float, str]] = []
        self.t0 = time.monotonic()
        self.connected_at: Optional[float] = None
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.on("iceconnectionstatechange", self._on_ice)

    def _on_state(self) -> None:
        st = self.pc.connectionState
        self.history.append((round(time.monotonic() - self.t0, 2), f"pc:{st}"))
        if st == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()

    def _on_ice(self) -> None:
        self.history.append((round(time.monotonic() - self.t0, 2), f"ice:{self.pc.iceConnectionState}"))

    async def signal(self, url: str, munge: Optional[Callable[[str], str]] = None) -> None:
        """Offer, POST it (optionally rewritten), apply the 201 answer."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        if munge:
            sdp = munge(sdp)
        self.offer_sent = sdp
        async with ClientSession(timeout=HTTP_TIMEOUT) as http:
            async with http.post(url, data=sdp, headers={"Content-Type": "application/sdp"}) as r:
                self.status = r.status
                body = await r.text()
                if r.status != 201:
                    raise AssertionError(f"{self.name}: POST {url} -> {r.status}: {body}")
                self.location = r.headers.get("Location")
                self.answer = body
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))

    def transports(self) -> str:
        """ICE and DTLS transport states of each transceiver (BUNDLE: usually one pair)."""
        seen, out = set(), []
        for t in self.pc.getTransceivers():
            dtls = t.receiver.transport if t.receiver else None
            if dtls is None or id(dtls) in seen:
                continue
            seen.add(id(dtls))
            ice = dtls.transport
            pairs = ""
            try:
                conn = ice._connection
                nom = getattr(conn, "_nominated", {})
                pairs = f" nominated={[str(p) for p in nom.values()]}"
                checks = getattr(conn, "_check_list", [])
                pairs += f" checks={[f'{p.remote_candidate.host}:{p.remote_candidate.port}/{p.state.name}' for p in checks]}"
            except Exception as e:  # introspection only, for the report
                pairs = f" (no ICE detail: {e!r})"
            out.append(f"ice={ice.state} dtls={dtls.state} role={dtls._role}{pairs}")
        return "; ".join(out) or "no transports"

    async def stats_excerpt(self) -> str:
        """getStats(): the rtp entries' counters."""
        try:
            report = await asyncio.wait_for(self.pc.getStats(), 3)
        except Exception as e:
            return f"getStats failed: {e!r}"
        lines = []
        for s in report.values():
            if s.type in self.stat_types:
                fields = {k: v for k, v in vars(s).items() if k in (
                    "kind", "packetsSent", "bytesSent", "packetsReceived", "bytesReceived",
                    "packetsLost", "jitter", "ssrc")}
                lines.append(f"{s.type} {fields}")
        return "\n    ".join(lines) or "no rtp stats"

    async def describe(self) -> str:
        return (
            f"{self.name}: connectionState={self.pc.connectionState} "
            f"iceConnectionState={self.pc.iceConnectionState} {self.transports()}\n"
            f"  history={self.history}\n  stats:\n    {await self.stats_excerpt()}"
        )

    async def wait_connected(self, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.pc.connectionState == "connected":
                return True
            if self.pc.connectionState in ("failed", "closed"):
                return False
            await asyncio.sleep(0.1)
        return False

    async def close(self, server=None) -> Optional[int]:
        status = None
        if server is not None and self.location:
            status = await asyncio.to_thread(server.delete, self.location)
        await self.pc.close()
        return status


class Publisher(Peer):
    """WHIP: a synthetic video (H264 or VP8) and a sine (Opus)."""

    def __init__(self, name: str, video_codec: str = "H264", grain: bool = False) -> None:
        super().__init__(name)
        self.video = PatternVideoTrack(grain)
        self.audio = SineAudioTrack()
        tv = self.pc.addTransceiver(self.video, direction="sendonly")
        ta = self.pc.addTransceiver(self.audio, direction="sendonly")
        prefer_codec(tv, "video", f"video/{video_codec}")
        prefer_codec(ta, "audio", "audio/opus")

    def counts(self) -> str:
        return f"{self.name} sent video={self.video.sent} audio={self.audio.sent} frames"


class Subscriber(Peer):
    """WHEP: receives video and audio, counting decoded frames from track.recv()."""

    stat_types = ("inbound-rtp", "remote-outbound-rtp")

    def __init__(self, name: str, video_codec: str = "H264") -> None:
        super().__init__(name)
        self.decoded = {"video": 0, "audio": 0}
        self.first_video_at: Optional[float] = None
        self.recv_errors: list[str] = []
        self._tasks: list[asyncio.Task] = []
        from aiortc import RTCRtpReceiver

        tv = self.pc.addTransceiver("video", direction="recvonly")
        ta = self.pc.addTransceiver("audio", direction="recvonly")
        prefer_codec(tv, "video", f"video/{video_codec}", RTCRtpReceiver)
        prefer_codec(ta, "audio", "audio/opus", RTCRtpReceiver)
        self.pc.on("track", self._on_track)

    def _on_track(self, track) -> None:
        self._tasks.append(asyncio.ensure_future(self._drain(track)))

    async def _drain(self, track) -> None:
        # Ends when the track ends (pc closed) or the task is cancelled.
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            except Exception as e:  # a decoder error is a finding, not a crash
                self.recv_errors.append(repr(e))
                return
            self.decoded[track.kind] += 1
            if track.kind == "video" and self.first_video_at is None:
                self.first_video_at = time.monotonic()

    def counts(self) -> str:
        return f"{self.name} decoded video={self.decoded['video']} audio={self.decoded['audio']} frames" + (
            f" recv errors={self.recv_errors}" if self.recv_errors else ""
        )

    async def close(self, server=None) -> Optional[int]:
        status = await super().close(server)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return status


def whip_url(server, stream: str, app: str = "live") -> str:
    return f"{server.api}/rtc/v1/whip/?app={app}&stream={stream}"


def whep_url(server, stream: str, app: str = "live") -> str:
    return f"{server.api}/rtc/v1/whep/?app={app}&stream={stream}"


async def report(server, peers, headline: str) -> str:
    """A failure message: the headline, every peer's counters and states, the server's log tail."""
    parts = [headline]
    for p in peers:
        parts.append(p.counts())
        parts.append(await p.describe())
    try:
        parts.append(f"server totals: {server.totals()}")
    except Exception as e:
        parts.append(f"server totals unavailable: {e!r}")
    parts.append(server.log_tail())
    return "\n".join(parts)


def run(coro, limit: float):
    """Runs a test coroutine with a hard limit on its wall-clock time."""

    async def bounded():
        return await asyncio.wait_for(coro, limit)

    return asyncio.run(bounded())


CONNECT_LIMIT = 20.0  # seconds for ICE + DTLS to reach 'connected'
FIRST_FRAME_LIMIT = 10.0  # seconds from 'connected' to the first decoded video frame
WINDOW = 10.0  # seconds over which sent and decoded frames are compared


async def connect_all(server, peers, what: str) -> None:
    """Waits (bounded) until every peer is 'connected'; else fails with all states."""
    ok = await asyncio.gather(*(p.wait_connected(CONNECT_LIMIT) for p in peers))
    if not all(ok):
        bad = [p.name for p, k in zip(peers, ok) if not k]
        raise AssertionError(await report(
            server, peers, f"{what}: {bad} did not reach connectionState 'connected' within {CONNECT_LIMIT:.0f} s"))


async def wait_first_video(server, pub, subs) -> None:
    deadline = time.monotonic() + FIRST_FRAME_LIMIT
    while time.monotonic() < deadline and not all(s.decoded["video"] for s in subs):
        await asyncio.sleep(0.1)
    if not all(s.decoded["video"] for s in subs):
        bad = [s.name for s in subs if not s.decoded["video"]]
        raise AssertionError(await report(
            server, [pub, *subs], f"{bad} decoded no video frame within {FIRST_FRAME_LIMIT:.0f} s of connecting"))


async def measure(server, pub, subs, min_video_ratio: float, min_audio_ratio: float = 0.5) -> str:
    """Counts frames sent and decoded during WINDOW seconds; fails below the ratios."""
    s0, a0 = pub.video.sent, pub.audio.sent
    d0 = [dict(s.decoded) for s in subs]
    await asyncio.sleep(WINDOW)
    sent, asent = pub.video.sent - s0, pub.audio.sent - a0
    lines, bad = [], []
    for s, d in zip(subs, d0):
        v, a = s.decoded["video"] - d["video"], s.decoded["audio"] - d["audio"]
        lines.append(f"{s.name}: decoded {v}/{sent} video frames ({v / max(sent, 1):.0%}), "
                     f"{a}/{asent} audio frames in {WINDOW:.0f} s")
        if v < min_video_ratio * sent or a < min_audio_ratio * asent or sent == 0:
            bad.append(s.name)
    summary = "\n".join(lines)
    try:
        shards = [(sh.get("id"), sh.get("sessions")) for sh in server.per_shard()]
        summary += f"\nsessions per shard (id, sessions): {shards}"
    except Exception as e:
        summary += f"\nper-shard sessions unavailable: {e!r}"
    if bad:
        raise AssertionError(await report(
            server, [pub, *subs],
            f"{bad} below {min_video_ratio:.0%} of video (or {min_audio_ratio:.0%} of audio) frames:\n{summary}"))
    return summary


async def close_all(server, peers) -> None:
    statuses = []
    for p in peers:
        statuses.append((p.name, await p.close(server)))
    wrong = [(n, s) for n, s in statuses if s != 200]
    assert not wrong, f"DELETE of the session's Location did not answer 200: {wrong}\n{server.log_tail()}"


class Peers:
    """Every peer a test makes; closed on exit whatever happened (bounded)."""

    def __init__(self) -> None:
        self.all: list[Peer] = []

    def add(self, peer):
        self.all.append(peer)
        return peer

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        for p in self.all:
            try:
                await asyncio.wait_for(p.close(), 5)
            except Exception:
                pass
        return False
