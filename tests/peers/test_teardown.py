"""Sessions up and down (workers 2): the API reports them while they live,
players survive their publisher leaving and resume when a publisher returns,
and afterwards every shard's session, index and routing tables are back at
zero.
"""

import asyncio
import time

from rtc import Peers, Publisher, Subscriber, close_all, connect_all, report, run, wait_first_video, whep_url, whip_url

TABLES = ("sessions", "table_ufrags", "table_addrs", "table_subscribed", "table_published", "table_interest")


async def wait_until(pred, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await asyncio.to_thread(pred):
            return True
        await asyncio.sleep(0.1)
    return await asyncio.to_thread(pred)


def shards_empty(server) -> bool:
    return all(all(sh.get(k) == 0 for k in TABLES) for sh in server.per_shard())


async def cycle(server, n: int) -> None:
    stream = f"cycle{n}"
    async with Peers() as peers:
        pub = peers.add(Publisher(f"publisher{n}"))
        await pub.signal(whip_url(server, stream))
        await connect_all(server, [pub], "publisher")
        subs = [peers.add(Subscriber(f"sub{n}.{i}")) for i in range(3)]
        for s in subs:
            await s.signal(whep_url(server, stream))
        await connect_all(server, [pub, *subs], "subscribers")
        await wait_first_video(server, pub, subs)

        # The API sees them, with traffic, within its 1 s snapshot period.
        def api_sees_them() -> bool:
            clients = [c for c in server.get_json("/api/v1/clients")["clients"] if c["name"] == stream]
            streams = [s for s in server.get_json("/api/v1/streams")["streams"] if s["name"] == stream]
            return (
                len(clients) == 4
                and all(c["connected"] and c["kbps"]["recv_30s" if c["publish"] else "send_30s"] > 0 for c in clients)
                and len(streams) == 1
                and streams[0]["publish"]["active"]
                and streams[0]["clients"] == 3
                and streams[0]["video"]["codec"] == "H264"
            )

        if not await wait_until(api_sees_them, 4.0):
            raise AssertionError(await report(server, [pub, *subs], "clients/streams API: "
                                              f"{server.get_json('/api/v1/clients')} {server.get_json('/api/v1/streams')}"))

        # The publisher leaves; the players stay...
        assert await pub.close(server) == 200
        await asyncio.sleep(0.5)
        live = [c for c in server.get_json("/api/v1/clients")["clients"] if c["name"] == stream]
        assert sum(1 for c in live if not c["publish"]) == 3, live
        # ...and resume when a publisher comes back to the stream.
        before = [s.decoded["video"] for s in subs]
        pub2 = peers.add(Publisher(f"publisher{n}b"))
        await pub2.signal(whip_url(server, stream))
        await connect_all(server, [pub2], "returning publisher")

        def resumed() -> bool:
            return all(s.decoded["video"] > b + 10 for s, b in zip(subs, before))

        if not await wait_until(resumed, 8.0):
            raise AssertionError(await report(server, [pub2, *subs], f"players did not resume: before {before}"))
        await close_all(server, [*subs, pub2])


def test_tables_return_to_zero_after_sessions_come_and_go(server):
    async def main():
        for n in range(2):
            await cycle(server, n)
        if not await wait_until(lambda: shards_empty(server), 3.0):
            raise AssertionError(f"tables not empty: {[{k: sh.get(k) for k in TABLES} for sh in server.per_shard()]}\n"
                                 f"{server.log_tail()}")
        summary = server.get_json("/api/v1/summaries")["data"]
        assert summary["sessions"] == 0 and summary["streams"] == 0, summary

    run(main(), 150)
