"""The tornado app: the contract's endpoints as tornado RequestHandlers, with tornado's
AsyncHTTPClient as the upstream client.

Asynchronous, one IOLoop (on asyncio's event loop) in one process: a request waiting on
gosleep is a suspended coroutine. `/multiple` awaits its n fetches together.

The client is tornado's curl_httpclient (CurlAsyncHTTPClient, on pycurl, whose PyPI
wheel bundles libcurl), not its default simple_httpclient: the simple client opens a new
connection for every request, sends `Connection: close` and closes it after the answer
(tornado's docs: "connections are not reused"), so with it there is no reuse to measure.
libcurl keeps the connections of one client (one CurlMulti) alive and reuses them.

Reuse: the one client of the IOLoop, its connection cache. `--no-reuse`: the same client,
each transfer on a fresh connection closed after it (libcurl's FRESH_CONNECT and
FORBID_REUSE). tornado's default `max_clients` is 10, a cap of 10 calls in flight (10 RPS
at a 1 s upstream): it is raised to MAX_CLIENTS.

TLS (an https:// upstream): libcurl's own, the OpenSSL its wheel bundles, not Python's ssl
module. libcurl keeps a cache of TLS sessions, shared by the handles of one client (its
multi handle), and a new connection to the upstream resumes one when the cache holds one
(CURLOPT_SSL_SESSIONID_CACHE, on by default): --no-tls-resumption turns the cache off.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import sys
import weakref
from asyncio import Future

import pycurl
import tornado.httpserver
import tornado.ioloop
import tornado.iostream
import tornado.web
from tornado.curl_httpclient import CurlAsyncHTTPClient, CurlError
from tornado.httpclient import HTTPRequest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import contract  # noqa: E402
from contract import BenchError, Config, UpstreamError  # noqa: E402

MAX_CLIENTS = 8192
"""Upstream transfers in flight at once (tornado's default: 10). Past it, a call waits in
the client's queue."""

SERVER_HEADER = "TornadoServer"
"""tornado's own Server header, without the version it carries by default."""

# libcurl error numbers (curl.h)
CURLE_COULDNT_RESOLVE_HOST = 6
CURLE_COULDNT_CONNECT = 7
CURLE_WRITE_ERROR = 23
CURLE_OPERATION_TIMEDOUT = 28
CURLE_FILESIZE_EXCEEDED = 63
CURLE_TLS = frozenset(
    (
        pycurl.E_SSL_CONNECT_ERROR,  # the handshake failed: a TLS alert, not TLS at all
        pycurl.E_PEER_FAILED_VERIFICATION,  # untrusted, expired, another host's
        pycurl.E_SSL_CERTPROBLEM,
        pycurl.E_SSL_CIPHER,
        pycurl.E_SSL_CACERT_BADFILE,
        pycurl.E_SSL_ISSUER_ERROR,
        pycurl.E_SSL_INVALIDCERTSTATUS,
        pycurl.E_SSL_SHUTDOWN_FAILED,
    )
)
"""libcurl's errors of the TLS layer: a 502 "upstream TLS failed" with libcurl's message."""


class GrowingCurlClient(CurlAsyncHTTPClient):
    """tornado's curl client, making its libcurl handles as the load needs them, up to
    max_clients, instead of all of them up front: 8192 handles made at start cost ~35 MiB
    (about 4 KiB each) before the first request, which the benchmark's peak-RSS row would
    show as tornado's. A handle, once made, is kept for the next transfer, as tornado's are.
    (Relies on the client's private queue and free list: tornado is pinned.)"""

    def initialize(self, max_clients: int = 10, **kwargs) -> None:  # type: ignore[override]
        super().initialize(max_clients=1, **kwargs)
        self._max_handles = max_clients

    def _process_queue(self) -> None:
        while len(self._requests) > len(self._free_list) and len(self._curls) < self._max_handles:
            curl = self._curl_create()
            self._curls.append(curl)
            self._free_list.append(curl)
        super()._process_queue()


class CurlTls:
    """The TLS options of an https:// upstream's transfers (contract.Config.upstream_tls, in
    libcurl's terms): verification on (tornado sets VERIFYPEER and VERIFYHOST), HTTP/1.1
    only (libcurl's default also offers h2 by ALPN); and the trust anchors. With
    --upstream-ca, exactly its certificates, as a blob, with no CA file or directory beside
    them. Without it, the system's trust store where Python's ssl finds it, so that the
    three servers trust one store (libcurl's own choice of file ignores SSL_CERT_FILE)."""

    def __init__(self, config: Config):
        paths = ssl.get_default_verify_paths()
        ca = config.upstream_ca
        self.blob = None if ca is None else ca.pem.encode()
        self.cafile = None if ca is not None else paths.cafile
        self.capath = None if ca is not None else paths.capath
        self.session_cache = 0 if config.no_tls_resumption else 1

    def prepare(self, curl: pycurl.Curl) -> None:
        curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        if self.blob is not None:
            curl.setopt(pycurl.CAINFO_BLOB, self.blob)
        for option, value in ((pycurl.CAINFO, self.cafile), (pycurl.CAPATH, self.capath)):
            if value is None:
                curl.unsetopt(option)
            else:
                curl.setopt(option, value)
        curl.setopt(pycurl.SSL_SESSIONID_CACHE, self.session_cache)


class CurlUpstream:
    """One upstream call with tornado's curl client: `call(url)` is the body's length in
    bytes, or raises an UpstreamError. Build it on the IOLoop that uses it."""

    def __init__(self, config: Config):
        self.timeout_s = config.timeout_s
        self.timeout_ms = config.upstream_timeout_ms
        self.no_reuse = config.no_reuse
        self.tls = CurlTls(config) if config.is_https else None
        # force_instance: this client's settings, not a shared one made elsewhere.
        # max_body_size also bounds a streamed body: past it libcurl fails the transfer.
        self.client = GrowingCurlClient(
            force_instance=True, max_clients=MAX_CLIENTS, max_body_size=contract.MAX_BODY_BYTES
        )

    def close(self) -> None:
        self.client.close()

    def _prepare(self, curl: pycurl.Curl) -> None:
        # A body announced over the cap is refused from its Content-Length.
        curl.setopt(pycurl.MAXFILESIZE_LARGE, contract.MAX_BODY_BYTES)
        if self.no_reuse:
            curl.setopt(pycurl.FRESH_CONNECT, 1)
            curl.setopt(pycurl.FORBID_REUSE, 1)
        if self.tls is not None:
            self.tls.prepare(curl)

    async def call(self, url: str) -> int:
        counted = 0

        def count(chunk: bytes) -> None:
            # The body as it streams: counted, never held.
            nonlocal counted
            counted += len(chunk)

        request = HTTPRequest(
            url,
            # libcurl's CONNECTTIMEOUT and TIMEOUT: the whole call, connect included.
            connect_timeout=self.timeout_s,
            request_timeout=self.timeout_s,
            follow_redirects=False,
            decompress_response=False,
            streaming_callback=count,
            prepare_curl_callback=self._prepare,
        )
        try:
            # raise_error=False: a non-2xx is a response; a failed transfer still raises.
            response = await self.client.fetch(request, raise_error=False)
        except CurlError as e:
            raise _curl_error(e, self.timeout_ms) from None
        if not 200 <= response.code < 300:
            raise UpstreamError.http_status(response.code)
        body = contract.BodyCount(response.headers.get("Content-Length"), response.code)
        body.add(counted)
        return body.finish()


def _curl_error(error: CurlError, timeout_ms: int) -> UpstreamError:
    """A failed transfer (tornado's code 599) by libcurl's error number, in libcurl's
    words: without tornado's `HTTP 599: `, which would read as a status the upstream sent."""
    number = error.errno
    if number == CURLE_OPERATION_TIMEDOUT:
        return UpstreamError.timeout(timeout_ms)
    if number in (CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST):
        return UpstreamError.connect(error.message)
    if number in CURLE_TLS:
        return UpstreamError.tls(error.message)
    if number == CURLE_FILESIZE_EXCEEDED or (number == CURLE_WRITE_ERROR and "max_body_size" in str(error)):
        return UpstreamError.too_large()
    return UpstreamError.broken(error.message)


class Handler(tornado.web.RequestHandler):
    """What every handler shares: the Server header, JSON errors, and the record of which
    connections have a request in flight (a stop waits for those, closes the others)."""

    def initialize(self, config: Config, upstream: CurlUpstream, busy: Busy) -> None:
        self.config, self.upstream, self.busy = config, upstream, busy

    def set_default_headers(self) -> None:
        self.set_header("Server", SERVER_HEADER)

    def prepare(self) -> None:
        self.busy.add(self)

    def on_finish(self) -> None:
        self.busy.discard(self)

    def on_connection_close(self) -> None:
        self.busy.discard(self)

    def answer(self, status: int, body: bytes, content_type: str = contract.CONTENT_TYPE_JSON) -> Future[None]:
        """Finishes the request with this answer: the future resolves once it is written."""
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        if status == 405:
            self.set_header("Allow", contract.ALLOW)
        return self.finish(body)

    def failed(self, e: BenchError) -> None:
        self.answer(e.status, e.body())

    def write_error(self, status_code: int, **kwargs) -> None:
        """tornado's own errors: 405 for a method a handler has no method for, and any
        uncaught exception (500), as the contract's JSON."""
        if status_code == 405:
            self.failed(contract.MethodNotAllowed())
        else:
            self.answer(status_code, contract.error_json(self._reason))

    async def outcome(self, url: str) -> int | UpstreamError:
        try:
            return await self.upstream.call(url)
        except UpstreamError as e:
            return e
        except Exception as e:  # a client bug is a broken exchange (502), not a crash
            return UpstreamError.broken(f"client raised {e!r}")


class Single(Handler):
    async def get(self) -> None:
        try:
            ms = contract.parse_single(self.request.query)
            self.answer(200, contract.sum_calls([await self.outcome(self.config.sleep_url(ms))]))
        except BenchError as e:
            self.failed(e)


class Multiple(Handler):
    async def get(self) -> None:
        try:
            n, ms = contract.parse_multiple(self.request.query, self.config.fanout)
            url = self.config.sleep_url(ms)
            # Every call is seen through, a failed one included; the first failure in call
            # order decides the status.
            outcomes = await asyncio.gather(*(self.outcome(url) for _ in range(n)))
            self.answer(200, contract.sum_calls(outcomes))
        except BenchError as e:
            self.failed(e)


class Health(Handler):
    def get(self) -> None:
        self.answer(200, contract.HEALTH_BODY, contract.CONTENT_TYPE_TEXT)


class _EveryMethod:
    def __contains__(self, method: object) -> bool:
        return True


class NotFound(Handler):
    """Any path but the three, any method: 404 (the path decides before the method)."""

    SUPPORTED_METHODS = _EveryMethod()  # type: ignore[assignment]

    def prepare(self) -> None:
        self.failed(contract.NotFound())


class Refused(Handler):
    """A request tornado let through that the contract refuses, any method: `status` (400
    for contract.refused_request's CONNECT, `OPTIONS *` and `#` in the target; 431 for
    more than MAX_HEADERS fields, which tornado does not count), then the close. tornado
    itself refuses a missing or doubled Host, Content-Length with Transfer-Encoding, a
    final coding other than chunked and a Content-Length that is not a decimal (400), and
    a head over max_header_size (a close), each then closing."""

    SUPPORTED_METHODS = _EveryMethod()  # type: ignore[assignment]

    def initialize(self, status: int, why: str, **kwargs) -> None:  # type: ignore[override]
        super().initialize(**kwargs)
        self.status, self.why = status, why

    async def prepare(self) -> None:
        super().prepare()
        # finish's future resolves once the answer is written; tornado keeps a connection
        # open after an answer unless the request asked otherwise, so it is closed here.
        await self.answer(self.status, contract.error_json(self.why))
        self.request.connection.stream.close()


class Application(tornado.web.Application):
    """tornado's Application, checking the request-target and the field count before
    routing (tornado routes CONNECT's authority and `*` as paths, to a 404, and has no
    field-count limit), and routing an absolute-form target by its path (tornado takes all
    of `http://other/health` as the path). `handler_args` are every handler's initialize
    arguments."""

    def __init__(self, handler_args: dict, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.handler_args = handler_args

    def find_handler(self, request, **kwargs):
        why = contract.refused_request(
            request.method or "",
            request.uri or "",
            # tornado refuses a missing or doubled Host itself.
            False,
            0,
            request.headers.get_list("Content-Length"),
            request.headers.get_list("Transfer-Encoding"),
        )
        status = 400
        if why is None and len(list(request.headers.get_all())) > contract.MAX_HEADERS:
            status, why = 431, f"more than {contract.MAX_HEADERS} header fields"
        if why is not None:
            return self.get_handler_delegate(request, Refused, dict(self.handler_args, status=status, why=why))
        origin = contract.origin_form(request.uri or "")
        if origin != request.uri:
            request.path = origin.partition("?")[0]
        return super().find_handler(request, **kwargs)


class Busy:
    """The connections (IOStreams) with a request in flight."""

    def __init__(self) -> None:
        self.handlers: set[Handler] = set()

    def add(self, handler: Handler) -> None:
        self.handlers.add(handler)

    def discard(self, handler: Handler) -> None:
        self.handlers.discard(handler)

    def streams(self) -> set:
        return {h.request.connection.stream for h in self.handlers if h.request.connection is not None}


class Server(tornado.httpserver.HTTPServer):
    """tornado's HTTPServer, keeping the connections (IOStreams) it serves, so that a stop
    can close the idle ones at once and wait for the busy ones (tornado's own
    close_all_connections closes every connection, requests in flight included)."""

    def initialize(self, *args, accept_errors: contract.AcceptErrors, **kwargs) -> None:
        super().initialize(*args, **kwargs)
        self.streams: weakref.WeakSet[tornado.iostream.IOStream] = weakref.WeakSet()
        self.accept_errors = accept_errors

    def add_sockets(self, sockets) -> None:
        """tornado's, with an accept handler that survives a shortage of descriptors
        (add_accept_handler below). (Fills the server's private maps: tornado is pinned.)"""
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = add_accept_handler(sock, self._handle_connection, self.accept_errors)

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        self.streams.add(stream)
        super().handle_stream(stream, address)

    async def drain(self, busy: Busy, grace_s: float) -> None:
        """Stop accepting; close every connection without a request in flight, at once
        and again as each request finishes (its answer written); return when none is left
        open, or after grace_s."""
        self.stop()
        deadline = asyncio.get_running_loop().time() + grace_s
        while True:
            in_flight = busy.streams()
            open_streams = [s for s in list(self.streams) if not s.closed()]
            for stream in open_streams:
                if stream not in in_flight and not stream.writing():
                    stream.close()
            if not any(not s.closed() for s in open_streams):
                return
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(0.02)


def add_accept_handler(sock: socket.socket, callback, errors: contract.AcceptErrors):
    """tornado's netutil.add_accept_handler, but a shortage pauses it: tornado's lets
    accept's EMFILE out of the handler, and asyncio, having logged it (a traceback), runs
    the handler again at once, the socket still readable: a core spun and a traceback per
    turn of the loop for as long as the shortage lasts. Here a shortage takes the socket
    out of the loop for contract.AcceptErrors' pause. Returns the function that removes it."""
    loop = tornado.ioloop.IOLoop.current()
    removed = False

    def accept(fd, events) -> None:
        # At most a backlog's worth at once, as tornado's, so other work is not starved.
        for _ in range(128):
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as e:
                pause = errors.failed(e)
                if pause is None:
                    raise
                loop.remove_handler(sock)
                loop.call_later(pause, resume)
                return
            callback(connection, address)

    def resume() -> None:
        if not removed:
            loop.add_handler(sock, accept, tornado.ioloop.IOLoop.READ)

    def remove() -> None:
        # A no-op for tornado while the socket is paused.
        nonlocal removed
        removed = True
        loop.remove_handler(sock)

    loop.add_handler(sock, accept, tornado.ioloop.IOLoop.READ)
    return remove


def create_app(config: Config, upstream: CurlUpstream, busy: Busy) -> tornado.web.Application:
    args = {"config": config, "upstream": upstream, "busy": busy}
    return Application(
        args,
        [
            (contract.SINGLE, Single, args),
            (contract.MULTIPLE, Multiple, args),
            (contract.HEALTH, Health, args),
        ],
        default_handler_class=NotFound,
        default_handler_args=args,
        # tornado logs every request (errors as ERROR lines): it distorts a benchmark.
        log_function=lambda handler: None,
        compress_response=False,
    )
