"""A reload (SIGHUP) while aiortc plays: the configuration's new candidate
is in the next answer, the session made before the reload keeps decoding
(>= 90% of the frames over 10 s, with the reload in the middle) and still
ends with DELETE (200).
"""

import asyncio
import signal

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


async def reload_while_playing(server) -> str:
    async with Peers() as peers:
        pub = peers.add(Publisher("publisher"))
        await pub.signal(whip_url(server, "reload"))
        sub = peers.add(Subscriber("subscriber"))
        await sub.signal(whep_url(server, "reload"))
        await connect_all(server, [pub, sub], "before the reload")
        await wait_first_video(server, pub, [sub])

        async def reload_soon():
            await asyncio.sleep(3.0)
            conf = server.dir / "test.conf"
            conf.write_text(conf.read_text().replace("candidate 127.0.0.1;", "candidate 127.0.0.7;"))
            server.proc.send_signal(signal.SIGHUP)

        reloader = asyncio.ensure_future(reload_soon())
        summary = await measure(server, pub, [sub], 0.90)
        await reloader
        assert "configuration reloaded" in server.log_text(), server.log_tail()
        # The next answer carries the new candidate.
        late = peers.add(Subscriber("late-subscriber"))
        await late.signal(whep_url(server, "reload"))
        assert " 127.0.0.7 " in late.answer, late.answer
        await close_all(server, [sub, pub])
        return summary


def test_reload_keeps_sessions_and_applies_the_new_candidate(server):
    print(run(reload_while_playing(server), 120))
