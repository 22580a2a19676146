"""A WHIP client that trickles (RFC 9725 §4.3.1) and restarts ICE by PATCH
(§4.3.2), played by aiortc: its offer goes out without candidates, the
candidates follow in a PATCH (`application/trickle-ice-sdpfrag`, with
`a=end-of-candidates`), and mid-stream it restarts ICE: a PATCH with new
client credentials and the 201's ETag in If-Match, whose 200 sdpfrag gives
the server's new ones. aiortc has no ICE restart of its own, so the test
swaps the credentials in its aioice connection (the same 5-tuple, as a
restart without a network change) and sends a check with them at once. A
WHEP player must decode >= 90% of the frames across the restart, the new
credentials must be answered and the old ones no longer.
"""

import asyncio
import secrets
import string

from aiohttp import ClientSession
from aioice import stun

from rtc import (
    HTTP_TIMEOUT,
    Peers,
    Publisher,
    Subscriber,
    close_all,
    connect_all,
    measure,
    report,
    run,
    wait_first_video,
    whep_url,
    whip_url,
)

FRAG = "application/trickle-ice-sdpfrag"


def split_candidates(sdp: str) -> tuple[str, list[str]]:
    """The offer without its candidates, and the candidate lines of its first m-line."""
    kept, cands, section = [], [], -1
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            section += 1
        if line.startswith("a=candidate:"):
            if section == 0:
                cands.append(line)
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        kept.append(line)
    return "\r\n".join(kept), cands


def attr(text: str, name: str) -> str:
    return next(l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith(f"a={name}:"))


def ice_of(peer):
    """The aioice connection of a peer (BUNDLE: one for all transceivers)."""
    t = peer.pc.getTransceivers()[0]
    return (t.sender.transport or t.receiver.transport).transport._connection


async def check_with(conn, username: str, password: str, retransmissions: int) -> None:
    """A Binding request on the nominated pair with these credentials."""
    pair = next(iter(conn._nominated.values()))
    request = conn.build_request(pair, nominate=True)
    request.attributes["USERNAME"] = username
    await pair.protocol.request(
        request, pair.remote_addr, integrity_key=password.encode(), retransmissions=retransmissions)


async def patch(http, url: str, body: str, headers: dict):
    async with http.patch(url, data=body, headers={"Content-Type": FRAG, **headers}) as r:
        return r.status, await r.text(), r.headers.copy()


async def trickle_and_restart(server) -> str:
    async with Peers() as peers, ClientSession(timeout=HTTP_TIMEOUT) as http:
        pub = peers.add(Publisher("trickling-publisher", "H264"))
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        offer, cands = split_candidates(pub.pc.localDescription.sdp)
        assert cands and "a=candidate" not in offer, offer
        async with http.post(whip_url(server, "trickle"), data=offer,
                             headers={"Content-Type": "application/sdp"}) as r:
            body = await r.text()
            assert r.status == 201, f"POST -> {r.status}: {body}"
            pub.location, etag = r.headers["Location"], r.headers["ETag"]
        resource = server.api + pub.location
        ufrag, pwd = attr(offer, "ice-ufrag"), attr(offer, "ice-pwd")
        frag = (f"a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\n"
                f"a=mid:{attr(offer, 'mid')}\r\n" + "".join(c + "\r\n" for c in cands) + "a=end-of-candidates\r\n")
        status, text, _ = await patch(http, resource, frag, {"If-Match": etag})
        assert status == 204, f"trickle PATCH -> {status}: {text}"
        from aiortc import RTCSessionDescription
        await pub.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        await connect_all(server, [pub], "trickling WHIP publisher")
        async with http.get(resource) as r:
            info = await r.json()
        assert info["ice"]["candidates"] == len(cands) and info["ice"]["end_of_candidates"], info

        sub = peers.add(Subscriber("subscriber", "H264"))
        await sub.signal(whep_url(server, "trickle"))
        await connect_all(server, [pub, sub], "WHEP subscriber of the trickling publisher")
        await wait_first_video(server, pub, [sub])

        async def restart_mid_stream() -> str:
            await asyncio.sleep(3)
            conn = ice_of(pub)
            old = (conn.remote_username, conn.local_username, conn.remote_password)
            alphabet = string.ascii_letters + string.digits
            new_ufrag = "".join(secrets.choice(alphabet) for _ in range(8))
            new_pwd = "".join(secrets.choice(alphabet) for _ in range(24))
            rfrag = f"a=ice-ufrag:{new_ufrag}\r\na=ice-pwd:{new_pwd}\r\n"
            status, text, _ = await patch(http, resource, rfrag, {})
            assert status == 428, f"restart without If-Match -> {status}: {text}"
            status, text, _ = await patch(http, resource, rfrag, {"If-Match": '"stale"'})
            assert status == 412, f"restart with a stale If-Match -> {status}: {text}"
            status, text, headers = await patch(http, resource, rfrag, {"If-Match": etag})
            assert status == 200, f"restart PATCH -> {status}: {text}"
            assert headers.get("ETag") not in (None, etag), headers
            srv_ufrag, srv_pwd = attr(text, "ice-ufrag"), attr(text, "ice-pwd")
            # The restart as an ICE agent does it on the same path: new
            # credentials on both sides, checks with them from now on.
            conn._local_username, conn._local_password = new_ufrag, new_pwd
            conn.remote_username, conn.remote_password = srv_ufrag, srv_pwd
            await check_with(conn, f"{srv_ufrag}:{new_ufrag}", srv_pwd, retransmissions=3)
            try:
                await check_with(conn, f"{old[0]}:{old[1]}", old[2], retransmissions=1)
            except stun.TransactionError:
                pass
            else:
                raise AssertionError("the old credentials are still answered after the new ones were used")
            return f"restarted ICE: server ufrag {old[0]} -> {srv_ufrag}"

        restart = asyncio.ensure_future(restart_mid_stream())
        try:
            summary = await measure(server, pub, [sub], 0.90)
            done = await restart
        except BaseException:
            restart.cancel()
            raise
        totals = server.totals()
        if totals.get("ice_restarts") != 1 or totals.get("dtls_connected", 0) != 2:
            raise AssertionError(await report(server, [pub, sub], f"want 1 ICE restart and 2 DTLS handshakes: {totals}"))
        await close_all(server, [sub, pub])
        return f"{done}\n{summary}"


def test_trickled_candidates_and_an_ice_restart_by_patch_keep_media_flowing(server):
    print(run(trickle_and_restart(server), 90))
