"""A UDP relay on loopback that drops a share of the media packets passing
through it: this kernel has no netem, so loss is injected here. A peer is
pointed at it with the `eip=127.0.0.1:PORT` query option; the server sees
the relay's address as the peer's.

Only RTP/RTCP (first byte 128-191, RFC 7983) is dropped, so STUN and DTLS
set-up stay deterministic; the loss is seeded, so a run can be repeated.
"""

import asyncio
import random


class LossyRelay(asyncio.DatagramProtocol):
    def __init__(self, server_addr, loss: float, seed: int = 7) -> None:
        self.server_addr = server_addr
        self.loss = loss
        self.rng = random.Random(seed)
        self.client_addr = None
        self.transport = None
        self.passed = 0
        self.dropped = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        to_server = addr != self.server_addr
        if to_server:
            self.client_addr = addr
        dest = self.server_addr if to_server else self.client_addr
        if dest is None:
            return
        if data and 128 <= data[0] <= 191 and self.rng.random() < self.loss:
            self.dropped += 1
            return
        self.passed += 1
        self.transport.sendto(data, dest)

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]


async def start_relay(server, loss: float, seed: int = 7) -> LossyRelay:
    loop = asyncio.get_running_loop()
    target = ("127.0.0.1", server.ports["rtc"])
    _, relay = await loop.create_datagram_endpoint(
        lambda: LossyRelay(target, loss, seed), local_addr=("127.0.0.1", 0))
    return relay
