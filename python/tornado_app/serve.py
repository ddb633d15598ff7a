"""server-tornado: the launcher. Parses the contract's flags, binds the listening socket,
and serves the tornado app on it with tornado's HTTPServer (one process, one IOLoop).

    python/.venv/bin/python python/tornado_app/serve.py --listen 127.0.0.1:0

Prints `server-tornado listening on http://IP:PORT` once serving. SIGTERM / Ctrl-C: stop
accepting, close idle connections, let requests in flight finish (35 s at most), exit 0;
a second one during that drain exits at once with status 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import contract  # noqa: E402
from contract import Config  # noqa: E402
from tornado_app.app import Busy, CurlUpstream, Server, create_app  # noqa: E402

NAME = "server-tornado"
ABOUT = (
    "the benchmark's /single and /multiple proxy on tornado (its web framework and "
    "HTTPServer, TornadoServer; one IOLoop on asyncio), tornado's curl_httpclient as the "
    "upstream client"
)


async def serve(config: Config, sock: socket.socket) -> None:
    upstream = CurlUpstream(config)
    busy = Busy()
    server = Server(
        create_app(config, upstream, busy),
        # The contract's head size limit: past it tornado closes the connection. It has no
        # limit on the number of header fields. Its idle_connection_timeout (default 1 h)
        # is also the head timeout: it is left alone (README).
        max_header_size=contract.MAX_HEAD_BYTES,
        xheaders=False,
        decompress_request=False,
        accept_errors=contract.AcceptErrors(NAME, logging.getLogger("tornado.general")),
    )
    stop = asyncio.Event()
    signals = []

    def on_signal() -> None:
        signals.append(1)
        if len(signals) > 1:
            contract.second_signal_exit(NAME)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    sock.setblocking(False)
    server.add_sockets([sock])
    contract.announce(NAME, sock)
    await stop.wait()
    await server.drain(busy, contract.SHUTDOWN_GRACE_S)
    upstream.close()


def main() -> None:
    threads_help = "ignored: one IOLoop on one thread"
    config = contract.parse_args(NAME, ABOUT, threads_help)
    logging.basicConfig(level=contract.log_level().upper(), format=f"{NAME}: %(levelname)s %(name)s: %(message)s")
    contract.raise_fd_limit()
    sock = contract.bind_listener(NAME, config.listen)
    asyncio.run(serve(config, sock))


if __name__ == "__main__":
    main()
