"""The Flask app: the contract's endpoints on Flask, with requests as the upstream client.

Blocking, as in the original experiment: gunicorn's gthread worker hands each request to
one thread of its pool (`--threads`), and that thread blocks on gosleep through requests.
`/multiple` hands its n calls to a concurrent.futures thread pool and waits for all of
them, so they overlap instead of running one after another.

Reuse: one keep-alive `requests.Session` per thread (threading.local): requests'
sessions are not meant to be shared between threads, and a session per thread keeps one
pooled connection per thread, reused call after call. `--no-reuse`: a fresh session per
call, closed after it, which closes its one connection.

TLS (an https:// upstream): Python's ssl module (OpenSSL), through urllib3, with the one
context of `Config.upstream_tls` for every session. urllib3 never hands a TLS session to a
new connection, so no handshake is ever resumed, with --no-tls-resumption or without.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import ssl
import sys
import threading
import time
from http import HTTPStatus

import requests
import requests.adapters
import urllib3
from flask import Flask, Response, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import contract  # noqa: E402
from contract import BenchError, Config, UpstreamError  # noqa: E402

READ_CHUNK = 64 * 1024
"""Bytes asked of one read of an upstream body (one recv at most: read1)."""

MAX_FANOUT_THREADS = 4096
"""Most threads /multiple's pool holds: the Rust blocking servers' cap (MAX_FANOUT_THREADS)."""


def fanout_pool_size(config: Config, request_threads: int) -> int:
    """Threads of /multiple's pool: enough for every request thread to have a /multiple of
    --fanout calls in flight at once (and at least one whole n=64), within the cap. Past
    it, calls wait in the pool's queue: a fan-out then takes longer instead of failing."""
    return min(MAX_FANOUT_THREADS, max(contract.MAX_FANOUT, request_threads * config.fanout))


class VerifiedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter for https://, handing urllib3 our SSLContext. requests otherwise
    gives every HTTPS pool certifi's CA file, which urllib3 loads into the context for
    every new connection: CPU per connection under --no-reuse, and certifi's anchors added
    to --upstream-ca's, where exactly those must be trusted."""

    def __init__(self, context: ssl.SSLContext):
        self.context = context
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, ssl_context=self.context, **kwargs)

    def cert_verify(self, conn, url, verify, cert) -> None:
        # The context verifies (CERT_REQUIRED, host name checked): no CA file on top.
        conn.cert_reqs = "CERT_REQUIRED"


class RequestsUpstream:
    """One upstream call with requests: `call(url)` is the body's length in bytes, or raises
    an UpstreamError. Thread-safe: each thread has its own session."""

    def __init__(self, config: Config):
        self.timeout_s = config.timeout_s
        self.timeout_ms = config.upstream_timeout_ms
        self.no_reuse = config.no_reuse
        # One context for every session and connection: building one loads the trust anchors.
        self.tls = config.upstream_tls()
        self._local = threading.local()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # The benchmark must reach loopback directly: an HTTP(S)_PROXY in the environment
        # would put a second server in the measured path.
        session.trust_env = False
        if self.tls is not None:
            session.mount("https://", VerifiedAdapter(self.tls))
        return session

    def call(self, url: str) -> int:
        if self.no_reuse:
            session = self._new_session()
            try:
                return self._call(session, url)
            finally:
                session.close()
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new_session()
        return self._call(session, url)

    def _call(self, session: requests.Session, url: str) -> int:
        """GET url; counts the body as it streams, within one total deadline: requests'
        own timeouts bound each socket read, not the call, so the socket's timeout is set
        to what is left of the deadline before every read."""
        deadline = time.monotonic() + self.timeout_s
        try:
            resp = session.get(url, stream=True, allow_redirects=False, timeout=(self.timeout_s, self.timeout_s))
        except requests.exceptions.Timeout:
            raise UpstreamError.timeout(self.timeout_ms) from None
        except requests.exceptions.SSLError as e:
            raise UpstreamError.tls(contract.tls_failure(e) or str(e)) from None
        except requests.exceptions.ConnectionError as e:
            raise _connection_error(e) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
            raise UpstreamError.broken(e) from None
        clean = False
        try:
            if not 200 <= resp.status_code < 300:
                raise UpstreamError.http_status(resp.status_code)
            count = contract.BodyCount(resp.headers.get("Content-Length"), resp.status_code)
            raw = resp.raw
            conn = raw.connection
            sock = conn.sock if conn is not None else None
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise UpstreamError.timeout(self.timeout_ms)
                if sock is not None:
                    sock.settimeout(left)
                chunk = raw.read1(READ_CHUNK, decode_content=False)
                if not chunk:
                    break
                count.add(len(chunk))
            length = count.finish()
            clean = True
            return length
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise UpstreamError.timeout(self.timeout_ms) from None
        except BenchError:
            raise
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError, ValueError) as e:
            raise UpstreamError.broken(e) from None
        finally:
            if clean:
                # Read to its end: urllib3 has put the connection back in the pool already.
                resp.raw.release_conn()
            else:
                # Whatever is left on this connection is unusable: close it, not pool it.
                resp.close()


def _connection_error(e: requests.exceptions.ConnectionError) -> UpstreamError:
    """A requests ConnectionError is either no connection at all (refused, unreachable) or
    one that broke (reset, closed before the answer, malformed status line)."""
    reason = getattr(e.args[0] if e.args else None, "reason", None)
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return UpstreamError.connect(reason)
    return UpstreamError.broken(reason or e)


class CheckedRequests:
    """A WSGI middleware that answers what gunicorn lets through but the contract refuses
    (contract.refused_request: CONNECT, `OPTIONS *`, a `#` in the target, an HTTP/1.1
    request without Host, a Content-Length past u64) with a 400, then closes. gunicorn
    drops an app's `Connection: close`, so the close is a shutdown of the connection's
    socket (its `gunicorn.socket`) once the answer is written, when gunicorn closes the
    response body. (gunicorn itself refuses two Host fields, both Content-Length and
    Transfer-Encoding, and a final coding other than chunked; it routes an absolute-form
    target by its path.)"""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        lengths = [environ["CONTENT_LENGTH"]] if environ.get("CONTENT_LENGTH") is not None else []
        codings = [environ["HTTP_TRANSFER_ENCODING"]] if "HTTP_TRANSFER_ENCODING" in environ else []
        why = contract.refused_request(
            environ["REQUEST_METHOD"],
            environ.get("RAW_URI", ""),
            environ.get("SERVER_PROTOCOL") == "HTTP/1.1",
            1 if "HTTP_HOST" in environ else 0,
            lengths,
            codings,
        )
        if why is None:
            return self.app(environ, start_response)
        body = contract.error_json(why)
        start_response(
            "400 Bad Request",
            [("Content-Type", contract.CONTENT_TYPE_JSON), ("Content-Length", str(len(body)))],
        )
        return _ThenClose(body, environ.get("gunicorn.socket"))


class _ThenClose:
    """A response body that shuts its connection down when the server closes it, after
    the last byte is written: the server then reads the end of the connection and closes."""

    def __init__(self, body: bytes, sock):
        self.body, self.sock = body, sock

    def __iter__(self):
        yield self.body

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def create_app(config: Config, request_threads: int) -> Flask:
    """The Flask app for `config`, in the process (and after the fork) that serves it."""
    app = Flask("server-flask")
    upstream = RequestsUpstream(config)
    fanout = concurrent.futures.ThreadPoolExecutor(
        max_workers=fanout_pool_size(config, request_threads), thread_name_prefix="fanout"
    )

    def answer(status: int, body: bytes, content_type: str = contract.CONTENT_TYPE_JSON) -> Response:
        # The reason phrase as RFC 9110 writes it (Werkzeug's is upper-case).
        response = Response(body, status=f"{status} {HTTPStatus(status).phrase}", content_type=content_type)
        if status == 405:
            response.headers["Allow"] = contract.ALLOW
        return response

    def failed(e: BenchError) -> Response:
        return answer(e.status, e.body())

    def only_get() -> None:
        # Flask serves HEAD with a GET view; the contract answers it 405 as any other method.
        if request.method != "GET":
            raise contract.MethodNotAllowed()

    def outcome(url: str) -> int | UpstreamError:
        try:
            return upstream.call(url)
        except UpstreamError as e:
            return e
        except Exception as e:  # a client bug is a broken exchange (502), not a crash
            return UpstreamError.broken(f"client raised {e!r}")

    @app.get(contract.SINGLE, provide_automatic_options=False)
    def single() -> Response:
        try:
            only_get()
            ms = contract.parse_single(request.query_string)
            return answer(200, contract.sum_calls([outcome(config.sleep_url(ms))]))
        except BenchError as e:
            return failed(e)

    @app.get(contract.MULTIPLE, provide_automatic_options=False)
    def multiple() -> Response:
        try:
            only_get()
            n, ms = contract.parse_multiple(request.query_string, config.fanout)
            url = config.sleep_url(ms)
            calls = [fanout.submit(outcome, url) for _ in range(n)]
            # Every call is seen through, a failed one included, before the answer (a list,
            # not a generator: sum_calls stops at the first failure, which would answer while
            # later calls are still queued); the first failure in call order decides the status.
            outcomes = [call.result() for call in calls]
            return answer(200, contract.sum_calls(outcomes))
        except BenchError as e:
            return failed(e)

    @app.get(contract.HEALTH, provide_automatic_options=False)
    def health() -> Response:
        try:
            only_get()
        except BenchError as e:
            return failed(e)
        return answer(200, contract.HEALTH_BODY, contract.CONTENT_TYPE_TEXT)

    @app.errorhandler(NotFound)
    def not_found(_: NotFound) -> Response:
        return failed(contract.NotFound())

    @app.errorhandler(MethodNotAllowed)
    def wrong_method(_: MethodNotAllowed) -> Response:
        return failed(contract.MethodNotAllowed())

    app.wsgi_app = CheckedRequests(app.wsgi_app)  # type: ignore[method-assign]
    return app
