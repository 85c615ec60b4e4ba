"""The daemon's listening socket makes asyncio turn Nagle off on every connection.

asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; one
created as ``socket(AF_INET, SOCK_STREAM)`` says 0, and then a keep-alive
response's body waited for the ACK of its headers (~40 ms of delayed ACK a
request, every request after a connection's first).
"""

import asyncio
import socket

from tether.server.daemon import _bind


def test_connections_accepted_by_the_daemon_socket_have_nagle_off() -> None:
    async def scenario() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        listener = _bind("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        try:
            port = listener.getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            async with asyncio.timeout(60):
                nodelay = await accepted
            writer.close()
        finally:
            server.close()
        return nodelay

    assert asyncio.run(scenario()) != 0
