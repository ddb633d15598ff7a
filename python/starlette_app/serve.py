"""server-starlette: the launcher. Parses the contract's flags, binds the listening socket,
and runs uvicorn (one process, one event loop) on it with the Starlette app.

    python/.venv/bin/python python/starlette_app/serve.py --listen 127.0.0.1:0

Prints `server-starlette listening on http://IP:PORT` once uvicorn is serving. SIGTERM /
Ctrl-C: stop accepting, close idle connections, let requests in flight finish (35 s at
most), exit 0; a second one during that drain exits at once with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from http import HTTPStatus

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import contract  # noqa: E402
from contract import Config  # noqa: E402
from starlette_app.app import HttpxUpstream, create_app  # noqa: E402

NAME = "server-starlette"
ABOUT = (
    "the benchmark's /single and /multiple proxy on Starlette under uvicorn "
    "(1 worker, one asyncio event loop, the h11 parser), httpx as the upstream client"
)

KEEPALIVE_S = 24 * 3600
"""uvicorn closes a keep-alive connection idle this long (its default is 5 s). The
contract never times an idle keep-alive connection out; uvicorn needs a number."""


class Server(uvicorn.Server):
    """uvicorn's server with the process's signals left to the launcher: uvicorn's own
    handlers re-raise the signal after a graceful stop, so a SIGTERM would end the process
    by that signal instead of with status 0, and a second SIGTERM does nothing."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class Protocol(H11Protocol):
    """uvicorn's h11 protocol, amended in asyncio's Protocol methods it implements:

    - A client that sends its request and then shuts its write side (a FIN) gets its
      answer: uvicorn's eof_received returns None, so asyncio closes the connection at the
      FIN and the answer in the works is lost. Here a FIN during a request keeps the
      connection open for the answer, and ends it after the answer (as uvicorn's own
      shutdown does, through the cycle's keep_alive); a FIN between requests still closes
      at once.
    - Empty lines before a request line are ignored (RFC 9112 2.2), where h11 answers
      them with a 400: they are dropped while h11 waits for a request with nothing
      buffered.
    - A head over the contract's limits is refused as the contract says, 414 for the
      request line, 431 for the head (contract.head_over_limits), then the close. h11's
      one limit applies only to a head still incomplete in its buffer (a longer one that
      arrives in one read is served) and answers 400; it has no field-count limit. A head
      is measured as it arrives, while h11 waits for one.
    - A head not whole within contract.HEAD_TIMEOUT_S (from the accept for the first, from
      its first byte for a later one) is a 408 and the close, or a close when nothing of
      it came: uvicorn has no head timeout (its keep-alive timer is cancelled by the
      first byte), so a client trickling a head held its connection for as long as it
      liked."""

    head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_timer = self.loop.call_later(contract.HEAD_TIMEOUT_S, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:
            self._refuse(408, f"request head not received within {contract.HEAD_TIMEOUT_S} s")
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            received = self.conn.trailing_data[0]
            if not received:
                data = data.lstrip(b"\r\n")
                if not data:
                    return
                if self.head_timer is None:
                    # A later head's first byte: its time starts now.
                    self.head_timer = self.loop.call_later(contract.HEAD_TIMEOUT_S, self._head_timed_out)
            over = contract.head_over_limits(received + data)
            if over is not None:
                self._refuse(*over)
                return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            # The head is whole.
            self._stop_head_timer()

    def _refuse(self, status: int, message: str) -> None:
        """`status` with the contract's JSON error, then the close. Written here, not by
        h11: h11 has no request to answer yet."""
        body = contract.error_json(message)
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: " + contract.CONTENT_TYPE_JSON.encode(),
            b"content-length: %d" % len(body),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()

    def eof_received(self) -> bool | None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return None
        cycle.keep_alive = False
        return True


def uvicorn_config(app, config: Config) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        # h11, the pure-Python parser (Protocol: uvicorn's h11 protocol, amended): the
        # only one of uvicorn's with a head size limit (httptools, the default when
        # installed, has none), and asyncio's own loop, the one tornado runs on too.
        http=Protocol,
        loop="asyncio",
        h11_max_incomplete_event_size=contract.MAX_HEAD_BYTES,
        ws="none",
        lifespan="off",
        interface="asgi3",
        backlog=contract.LISTEN_BACKLOG,
        timeout_keep_alive=KEEPALIVE_S,
        timeout_graceful_shutdown=contract.SHUTDOWN_GRACE_S,
        # uvicorn's access log is a line per request: it distorts a benchmark.
        access_log=False,
        log_level=contract.log_level(),
        proxy_headers=False,
        server_header=True,
        date_header=True,
    )


def accept_shortage_handler(errors: contract.AcceptErrors):
    """A loop exception handler that logs a shortage of descriptors at accept as
    contract.AcceptErrors does, at most once a second. asyncio's accept loop pauses on one
    by itself (the socket out of the loop for 1 s), but first reports it for every accept
    left in its batch, up to the backlog: 4096 ERROR tracebacks a second while it lasts.
    Anything else goes to asyncio's own handler."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        if context.get("message") == "socket.accept() out of system resource" and isinstance(exc, OSError):
            if errors.failed(exc) is not None:
                return
        loop.default_exception_handler(context)

    return handle


async def serve(config: Config, sock: socket.socket) -> None:
    upstream = HttpxUpstream(config)
    server = Server(uvicorn_config(create_app(config, upstream), config))
    signals = []

    def on_signal() -> None:
        signals.append(1)
        if len(signals) > 1:
            contract.second_signal_exit(NAME)
        server.should_exit = True

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(accept_shortage_handler(contract.AcceptErrors(NAME, logging.getLogger("uvicorn.error"))))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        contract.announce(NAME, sock)
    try:
        await serving
    finally:
        await upstream.aclose()


def main() -> None:
    threads_help = "ignored: one uvicorn worker runs one event loop on one thread"
    config = contract.parse_args(NAME, ABOUT, threads_help)
    contract.raise_fd_limit()
    sock = contract.bind_listener(NAME, config.listen)
    asyncio.run(serve(config, sock))


if __name__ == "__main__":
    main()
