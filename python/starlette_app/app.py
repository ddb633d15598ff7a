"""The Starlette app: the contract's endpoints on Starlette, with httpx as the upstream client.

Asynchronous, one event loop (uvicorn, one worker): a request waiting on gosleep is a
suspended coroutine, not a blocked thread. `/multiple` awaits its n calls together with
asyncio.gather.

Reuse: one `httpx.AsyncClient` for the process, whose pool limits are lifted: httpx's
defaults (100 connections, 20 kept alive, and a 5 s wait for a free connection that then
fails the call) would cap the benchmark, not the framework. `--no-reuse`: a client per
call, closed after it, which closes its one connection.

TLS (an https:// upstream): Python's ssl module (OpenSSL), through httpcore on anyio, with
the one context of `Config.upstream_tls` for every client. httpcore never hands a TLS
session to a new connection, so no handshake is ever resumed, with --no-tls-resumption or
without.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import contract  # noqa: E402
from contract import BenchError, Config, UpstreamError  # noqa: E402

LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None)
"""No cap on connections, open or kept alive (httpx's defaults: 100 and 20)."""


class HttpxUpstream:
    """One upstream call with httpx: `call(url)` is the body's length in bytes, or raises an
    UpstreamError. Build it inside the event loop that uses it; `aclose()` at the end."""

    def __init__(self, config: Config):
        self.timeout_s = config.timeout_s
        self.timeout_ms = config.upstream_timeout_ms
        self.no_reuse = config.no_reuse
        # Per phase (connect, each read, each write) the whole budget, and no wait for a
        # pooled connection (pool=None: there is no cap to wait on). The call's total
        # deadline is asyncio's, around all of it.
        self.timeout = httpx.Timeout(self.timeout_s, pool=None)
        # Every client builds a TLS context unless given one: ~40 ms of CPU loading CA
        # certificates, per client. One context, built once (the https:// upstream's, else
        # a default one no call uses), keeps that cost out of --no-reuse's client per call.
        self.tls = config.upstream_tls() or ssl.create_default_context()
        self.shared = None if self.no_reuse else self._client()

    def _client(self) -> httpx.AsyncClient:
        # trust_env=False: no HTTP(S)_PROXY from the environment in the measured path.
        return httpx.AsyncClient(limits=LIMITS, timeout=self.timeout, verify=self.tls, trust_env=False)

    async def aclose(self) -> None:
        if self.shared is not None:
            await self.shared.aclose()

    async def call(self, url: str) -> int:
        try:
            async with asyncio.timeout(self.timeout_s):
                if self.shared is not None:
                    return await self._get(self.shared, url)
                async with self._client() as client:
                    return await self._get(client, url)
        except (TimeoutError, httpx.TimeoutException):
            raise UpstreamError.timeout(self.timeout_ms) from None
        except httpx.ConnectError as e:
            # A failed handshake is a ConnectError too: the ssl.SSLError is in its chain.
            tls = contract.tls_failure(e)
            raise (UpstreamError.connect(e) if tls is None else UpstreamError.tls(tls)) from None
        except BenchError:
            raise
        except (httpx.HTTPError, httpx.StreamError, OSError, ValueError) as e:
            raise UpstreamError.broken(e) from None

    @staticmethod
    async def _get(client: httpx.AsyncClient, url: str) -> int:
        """GET url and count its body as it streams (aiter_raw: the bytes on the wire, no
        decoding); leaving the block early (a failure) closes the connection."""
        async with client.stream("GET", url) as resp:
            if not 200 <= resp.status_code < 300:
                raise UpstreamError.http_status(resp.status_code)
            count = contract.BodyCount(resp.headers.get("content-length"), resp.status_code)
            async for chunk in resp.aiter_raw():
                count.add(len(chunk))
            return count.finish()


class CheckedRequests:
    """An ASGI middleware for what h11 lets through but the contract refuses or routes
    otherwise: a 400 and a close (h11 closes after an answer carrying `Connection: close`)
    for any HTTP version but 1.0 and 1.1 (h11 parses any `HTTP/d.d`: `GET / HTTP/9.9` was
    served), and for contract.refused_request's (CONNECT, `OPTIONS *`, a `#` in the target,
    both Content-Length and Transfer-Encoding, a Content-Length past u64); an absolute-form
    target routed by its path (uvicorn makes `http://other/health` the path). h11 itself
    refuses a missing or doubled Host and a final coding other than chunked."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        version = scope.get("http_version", "1.1")
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
        headers = [(name.lower(), value.decode("latin-1")) for name, value in scope["headers"]]
        if version not in ("1.0", "1.1"):
            why: str | None = f"unsupported HTTP version {version}"
        else:
            why = contract.refused_request(
                scope["method"],
                target,
                version == "1.1",
                sum(1 for name, _ in headers if name == b"host"),
                [value for name, value in headers if name == b"content-length"],
                [value for name, value in headers if name == b"transfer-encoding"],
            )
        if why is not None:
            await _refuse(send, why)
            return
        origin = contract.origin_form(target)
        if origin != target:
            path = origin.partition("?")[0]
            scope = {**scope, "raw_path": path.encode("latin-1"), "path": unquote(path)}
        await self.app(scope, receive, send)


async def _refuse(send, why: str) -> None:
    """A 400 naming `why`, then the close."""
    body = contract.error_json(why)
    headers = [
        (b"content-type", contract.CONTENT_TYPE_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(config: Config, upstream: HttpxUpstream) -> Starlette:
    """The Starlette app for `config`, calling upstream through `upstream`."""

    def answer(status: int, body: bytes, media_type: str = contract.CONTENT_TYPE_JSON) -> Response:
        headers = {"Allow": contract.ALLOW} if status == 405 else None
        return Response(body, status_code=status, media_type=media_type, headers=headers)

    def failed(e: BenchError) -> Response:
        return answer(e.status, e.body())

    def only_get(request: Request) -> None:
        # Starlette serves HEAD with a GET route; the contract answers it 405 as any other.
        if request.method != "GET":
            raise contract.MethodNotAllowed()

    async def outcome(url: str) -> int | UpstreamError:
        try:
            return await upstream.call(url)
        except UpstreamError as e:
            return e
        except Exception as e:  # a client bug is a broken exchange (502), not a crash
            return UpstreamError.broken(f"client raised {e!r}")

    async def single(request: Request) -> Response:
        try:
            only_get(request)
            ms = contract.parse_single(request.scope["query_string"])
            return answer(200, contract.sum_calls([await outcome(config.sleep_url(ms))]))
        except BenchError as e:
            return failed(e)

    async def multiple(request: Request) -> Response:
        try:
            only_get(request)
            n, ms = contract.parse_multiple(request.scope["query_string"], config.fanout)
            url = config.sleep_url(ms)
            # Every call is seen through, a failed one included; the first failure in call
            # order decides the status.
            return answer(200, contract.sum_calls(await asyncio.gather(*(outcome(url) for _ in range(n)))))
        except BenchError as e:
            return failed(e)

    async def health(request: Request) -> Response:
        try:
            only_get(request)
        except BenchError as e:
            return failed(e)
        return answer(200, contract.HEALTH_BODY, contract.CONTENT_TYPE_TEXT)

    async def not_found(request: Request, exc: Exception) -> Response:
        return failed(contract.NotFound())

    async def wrong_method(request: Request, exc: Exception) -> Response:
        return failed(contract.MethodNotAllowed())

    return Starlette(
        routes=[
            Route(contract.SINGLE, single, methods=["GET"]),
            Route(contract.MULTIPLE, multiple, methods=["GET"]),
            Route(contract.HEALTH, health, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: wrong_method},
        middleware=[Middleware(CheckedRequests)],
    )
