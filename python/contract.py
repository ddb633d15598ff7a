"""The bench contract, once, for the three Python apps (Flask, Starlette, tornado).

The Python twin of the Rust side's `contract` (query.rs, reply.rs, upstream.rs,
config.rs, sys.rs) and bench-tls: the flags and their defaults, query validation, the JSON
bodies, the one mapping from failure to status, counting an upstream body, the TLS context
of an https:// upstream, the listening socket, and the one line a started server prints.
Each app holds only its framework and its HTTP client; nothing here imports a web
framework.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import re
import resource
import socket
import ssl
import sys
import time
from collections.abc import Iterable
from typing import NoReturn
from urllib.parse import parse_qsl

# --- limits of the contract (contract/src/{query,upstream,limits,sys}.rs) ------------

MAX_MS = 600_000
"""Largest `ms` any endpoint accepts (10 minutes)."""
MAX_FANOUT = 64
"""Largest `n` of /multiple, and of --fanout."""
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest upstream body one call may return; counted while it streams, never held."""
LISTEN_BACKLOG = 4096
"""Listen backlog of every server (the kernel caps it at net.core.somaxconn)."""
SHUTDOWN_GRACE_S = 35
"""How long a stopping server lets requests in flight finish (a little over 30 s)."""
MAX_HEAD_BYTES = 16 * 1024
"""Longest request head (line and headers) the contract accepts."""
MAX_HEADERS = 64
"""Most header fields one request may carry."""
HEAD_TIMEOUT_S = 10
"""How long a client may take to send a whole request head (limits.rs HEAD_TIMEOUT): from
the accept for a connection's first head, from its first byte for a later one. An idle
keep-alive connection between requests is not timed out."""
MAX_THREADS = 10_000
"""Largest --threads (contract/src/limits.rs MAX_THREADS): each a thread of ours, and
pid_max is 32768 on the project's machine."""

ALPN_HTTP1 = "http/1.1"
"""The one ALPN protocol offered to an https:// upstream, as the Rust clients' (bench-tls)."""

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_TEXT = "text/plain; charset=utf-8"
HEALTH_BODY = b"ok"
ALLOW = "GET"
"""The Allow header of a 405: every endpoint is GET-only."""

SINGLE, MULTIPLE, HEALTH = "/single", "/multiple", "/health"


# --- failures and their statuses (reply.rs, upstream.rs) -----------------------------------


class BenchError(Exception):
    """Every failure a contract endpoint answers with: a status and a message for a human."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> bytes:
        return error_json(self.message)


class QueryError(BenchError):
    """A bad query: 400."""

    status = 400


class NotFound(BenchError):
    status = 404

    def __init__(self) -> None:
        super().__init__("no such endpoint")


class MethodNotAllowed(BenchError):
    """Known path, another method: 405, with `Allow: GET`."""

    status = 405

    def __init__(self) -> None:
        super().__init__("method not allowed")


class UpstreamError(BenchError):
    """An upstream call failed: 502, or 504 for a timeout. Build with the class methods,
    so that the messages are the Rust servers' own."""

    status = 502

    @classmethod
    def connect(cls, detail: object) -> UpstreamError:
        """No connection: refused, unreachable, or the connect itself failed."""
        return cls(f"upstream connect failed: {_describe(detail)}")

    @classmethod
    def timeout(cls, timeout_ms: int) -> UpstreamTimeout:
        return UpstreamTimeout(f"upstream timed out after {timeout_ms} ms")

    @classmethod
    def tls(cls, reason: str) -> UpstreamError:
        """The TLS handshake failed: an untrusted or expired certificate, a wrong host name,
        an upstream that does not speak TLS. `reason` is the TLS stack's (tls_failure)."""
        return cls(f"upstream TLS failed: {reason}")

    @classmethod
    def http_status(cls, code: int) -> UpstreamError:
        return cls(f"upstream answered HTTP {code}")

    @classmethod
    def broken(cls, detail: object) -> UpstreamError:
        """The connection broke after it was made: reset, closed early, malformed answer."""
        return cls(f"upstream connection failed: {_describe(detail)}")

    @classmethod
    def too_large(cls) -> UpstreamError:
        return cls(f"upstream body is over {MAX_BODY_BYTES} bytes")


def _describe(detail: object) -> str:
    """An exception's message, or its type where it has none (httpx's ReadError after a
    reset has an empty one)."""
    text = str(detail)
    return text if text or not isinstance(detail, BaseException) else type(detail).__name__


class UpstreamTimeout(UpstreamError):
    status = 504


_SSL_SOURCE = re.compile(r" \(_ssl\.c:\d+\)$")


def tls_failure(error: BaseException) -> str | None:
    """The ssl.SSLError in `error`'s chain (itself, its cause or context, or a wrapper's
    `reason` or first argument, as urllib3 and requests nest them), as the text a 502
    names, without Python's `(_ssl.c:LINE)`; None when the failure was not TLS's. (libcurl
    reports TLS failures by its error numbers: tornado_app does its own.)"""
    seen: set[int] = set()
    todo: list[object] = [error]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return _SSL_SOURCE.sub("", str(current)) or type(current).__name__
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args[:1]])
    return None


def error_json(message: str) -> bytes:
    """`{"error":"..."}`, compact, as every error answer's body."""
    return json.dumps({"error": message}, separators=(",", ":")).encode()


def reply_json(calls: int, total: int) -> bytes:
    """`{"calls":N,"bytes":B}`, compact, as a 200's body."""
    return b'{"calls":%d,"bytes":%d}' % (calls, total)


def sum_calls(outcomes: Iterable[int | UpstreamError]) -> bytes:
    """The 200 body for the calls' byte counts, or raises the first failure in call order
    (a proxy that got a refused connection and a timeout in one fan-out has no single right
    answer; the first keeps every server consistent)."""
    calls = total = 0
    for outcome in outcomes:
        if isinstance(outcome, UpstreamError):
            raise outcome
        calls += 1
        total += outcome
    return reply_json(calls, total)


# --- request heads the HTTP servers let through (issue 29 S2, S4, S12, S13, S14) -----------

MAX_CONTENT_LENGTH = 2**64 - 1
"""Largest Content-Length the Rust servers can hold (u64): a larger one is not a length."""


def refused_request(
    method: str, target: str, http11: bool, hosts: int, content_length: list[str], transfer_encoding: list[str]
) -> str | None:
    """Why a request its HTTP server (gunicorn, h11, tornado) let through is a 400 in the
    contract (what the Rust servers refuse), or None to serve it. `content_length` and
    `transfer_encoding` are every value of those fields, `hosts` how many Host fields."""
    if method == "CONNECT" or target == "*":
        return "only origin-form and absolute-form request-targets are served"
    if "#" in target:
        return "a request-target has no fragment: '#' is not a request-target character"
    if http11 and hosts != 1:
        return f"an HTTP/1.1 request carries exactly one Host field, this one {hosts}"
    if content_length and transfer_encoding:
        return "Content-Length and Transfer-Encoding together"
    if transfer_encoding:
        codings = [c.strip().lower() for c in ",".join(transfer_encoding).split(",")]
        if codings[-1] != "chunked":
            return "Transfer-Encoding's final coding is not chunked"
    for value in content_length:
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_CONTENT_LENGTH:
            return f"Content-Length {value!r} is not a length"
    return None


_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")


def head_over_limits(received: bytes) -> tuple[int, str] | None:
    """The status and message of a request head over the contract's limits (the Rust
    servers' limits.rs), from the bytes received of it so far, the head first: 414 for a
    request line longer than MAX_HEAD_BYTES, 431 for a head longer than it or with more
    than MAX_HEADERS fields; None while within them."""
    line_end = received.find(b"\n")
    if (len(received) if line_end < 0 else line_end) > MAX_HEAD_BYTES:
        return 414, f"request line over {MAX_HEAD_BYTES} bytes"
    end = _END_OF_HEAD.search(received)
    if (len(received) if end is None else end.end()) > MAX_HEAD_BYTES:
        return 431, f"request head over {MAX_HEAD_BYTES} bytes"
    if end is not None and received.count(b"\n", 0, end.start()) > MAX_HEADERS:
        return 431, f"more than {MAX_HEADERS} header fields"
    return None


def origin_form(target: str) -> str:
    """The path and query of an absolute-form request-target, which a server must accept
    and routes by its path (RFC 9112 3.2.2); any other target as it is."""
    scheme, sep, rest = target.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return target
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    tail = rest[cut:]
    return tail if tail.startswith("/") else "/" + tail


# --- queries (query.rs) --------------------------------------------------------------------


def _param(query: str | bytes | None, key: str) -> str | None:
    """The single value of `key` (percent-decoded, `+` as space), None when absent; a key
    given twice is refused rather than guessed at. Unknown keys are ignored."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    found = None
    for k, v in parse_qsl(query or "", keep_blank_values=True, errors="replace"):
        if k == key:
            if found is not None:
                raise QueryError(f"query parameter `{key}` is given more than once")
            found = v
    return found


def _bounded(query: str | bytes | None, key: str, low: int, high: int) -> int | None:
    """`key` as a plain decimal integer (ASCII digits only) in low..=high, None if absent."""
    value = _param(query, key)
    if value is None:
        return None
    if not value or not all("0" <= c <= "9" for c in value):
        shown = json.dumps(value, ensure_ascii=False)
        raise QueryError(f"query parameter `{key}` must be a non-negative integer, got {shown}")
    if not low <= int(value) <= high:
        raise QueryError(f"query parameter `{key}` must be in {low}..={high}, got {value}")
    return int(value)


def parse_single(query: str | bytes | None) -> int | None:
    """The `ms` of `GET /single[?ms=M]` (None: gosleep's own default)."""
    return _bounded(query, "ms", 0, MAX_MS)


def parse_multiple(query: str | bytes | None, default_fanout: int) -> tuple[int, int | None]:
    """`(n, ms)` of `GET /multiple[?n=N][&ms=M]`; a missing `n` is `--fanout`."""
    n = _bounded(query, "n", 1, MAX_FANOUT)
    return (default_fanout if n is None else n), _bounded(query, "ms", 0, MAX_MS)


# --- an upstream body, counted as it streams (upstream.rs BodyCount) -----------------------


NO_CONTENT_STATUSES = (204, 304)
"""Answers that have no content whatever their Content-Length says (RFC 9110 15.3.5,
15.4.5): bytes after their head are not their body."""


class BodyCount:
    """Counts an upstream body without holding it. A body announced or read past
    MAX_BODY_BYTES is refused at once; one that ends short of its Content-Length is broken.
    `status` is the answer's: a 204's Content-Length announces nothing."""

    def __init__(self, announced: str | None, status: int):
        self.counted = 0
        self.announced: int | None = None
        if announced is not None and status not in NO_CONTENT_STATUSES:
            text = announced.strip()
            if not text.isascii() or not text.isdigit():
                raise UpstreamError.broken(f"malformed Content-Length {announced!r}")
            self.announced = int(text)
            if self.announced > MAX_BODY_BYTES:
                raise UpstreamError.too_large()

    def add(self, n: int) -> None:
        self.counted += n
        if self.counted > MAX_BODY_BYTES:
            raise UpstreamError.too_large()

    def finish(self) -> int:
        if self.announced is not None and self.announced != self.counted:
            raise UpstreamError.broken(f"body ended after {self.counted} of its {self.announced} bytes")
        return self.counted


# --- the command line (config.rs) ----------------------------------------------------------


class Config:
    """The flags every server shares; names and defaults are the contract's."""

    def __init__(self, ns: argparse.Namespace):
        self.listen: tuple[str, int] = ns.listen
        self.upstream: str = ns.upstream
        self.upstream_ca: CaFile | None = ns.upstream_ca
        self.no_tls_resumption: bool = ns.no_tls_resumption
        self.fanout: int = ns.fanout
        self.no_reuse: bool = ns.no_reuse
        self.threads: int | None = ns.threads
        self.upstream_timeout_ms: int = ns.upstream_timeout_ms

    @property
    def timeout_s(self) -> float:
        """--upstream-timeout-ms in seconds: the total deadline of one upstream call."""
        return self.upstream_timeout_ms / 1000

    @property
    def is_https(self) -> bool:
        """`https://`: the calls are made over TLS."""
        return self.upstream.startswith("https://")

    def upstream_tls(self) -> ssl.SSLContext | None:
        """The TLS context of the upstream calls (requests and httpx; tornado's libcurl takes
        the same anchors, tornado_app): None for an http:// upstream. Verification always
        on, against exactly --upstream-ca's certificates, else the system's trust store;
        ALPN http/1.1. Build it once, not per connection: it loads the trust anchors."""
        if not self.is_https:
            return None
        if self.upstream_ca is not None:
            # With cadata, and no cafile or capath, the system's anchors are not loaded.
            context = ssl.create_default_context(cadata=self.upstream_ca.pem)
        else:
            context = ssl.create_default_context()
        context.set_alpn_protocols([ALPN_HTTP1])
        return context

    def sleep_url(self, ms: int | None) -> str:
        """The URL of one upstream call: `{upstream}/sleep[?ms=M]`."""
        return f"{self.upstream}/sleep" if ms is None else f"{self.upstream}/sleep?ms={ms}"


def format_addr(addr: tuple) -> str:
    """`IP:PORT`, IPv6 in brackets, as Rust prints a SocketAddr."""
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen(value: str) -> tuple[str, int]:
    """--listen: an `IP:PORT` address (IPv6 as `[::1]:PORT`); host names are not looked up."""
    host, sep, port = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
        if ip.version == 6 and not bracketed:
            raise ValueError(value)
        number = int(port)
        if not sep or not port.isdigit() or not 0 <= number <= 65535:
            raise ValueError(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "not an address: write IP:PORT, e.g. 127.0.0.1:0 (port 0 picks a free port)"
        ) from None
    return str(ip), number


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
SCHEMES = ("http", "https")
"""The schemes an upstream may have: https:// calls are made over TLS."""


def _upstream(value: str) -> str:
    """--upstream: an http:// or https:// base URL (the scheme in lower case), without
    trailing slash; the messages are the Rust servers' (upstream.rs UpstreamUrlError)."""
    if any(c in value for c in "?#") or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError(
            "a base URL has no query, fragment or space: write http[s]://HOST[:PORT][/PATH]"
        )
    scheme, sep, rest = value.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        # What to write is only worth saying if it is valid itself.
        meant = _upstream(f"http://{value}")
        raise argparse.ArgumentTypeError(f"no scheme: write {meant}")
    if scheme.lower() not in SCHEMES:
        raise argparse.ArgumentTypeError(f"the scheme is {scheme}://, but the upstream must be http:// or https://")
    authority = rest.split("/", 1)[0]
    if not authority or "@" in authority:
        raise argparse.ArgumentTypeError("no host (or user info before it): write http[s]://HOST[:PORT][/PATH]")
    return f"{scheme.lower()}://{rest.rstrip('/')}"


_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)


class CaFile:
    """The trust anchors of --upstream-ca: a PEM file's certificates, read and checked when
    the flag is parsed, so that a bad file is a bad flag (bench-tls CaFile; the messages
    are its own). `pem` holds only the file's CERTIFICATE sections."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, "rb") as f:
                text = f.read().decode("ascii", errors="replace")
        except OSError as e:
            raise argparse.ArgumentTypeError(f"{path}: cannot read it: {e.strerror or e}") from None
        sections = _PEM_CERTIFICATE.findall(text)
        if not sections:
            raise argparse.ArgumentTypeError(
                f"{path}: no certificate in it (expected a PEM 'BEGIN CERTIFICATE' section)"
            )
        self.pem = "\n".join(sections) + "\n"
        try:
            # Parses every certificate, as the clients will.
            ssl.create_default_context(cadata=self.pem)
        except (ssl.SSLError, ValueError) as e:
            raise argparse.ArgumentTypeError(
                f"{path}: not a valid PEM file: {_SSL_SOURCE.sub('', str(e))}"
            ) from None

    def __repr__(self) -> str:
        return f"CaFile({self.path!r})"


def _no_system_anchors() -> str | None:
    """Why an https:// upstream without --upstream-ca cannot be verified: the system has
    no trust store Python's ssl can find (bench-tls NoSystemRoots), so every call would
    fail. None when it has one."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile is None and (paths.capath is None or not os.listdir(paths.capath)):
        return "no system trust anchors could be loaded (none found); give --upstream-ca FILE"
    return None


def _ranged(low: int, high: int | None):
    def parse(value: str) -> int:
        if value.isascii() and value.isdigit() and low <= int(value) and (high is None or int(value) <= high):
            return int(value)
        wanted = f"in {low}..={high}" if high is not None else f"of at least {low}"
        raise argparse.ArgumentTypeError(f"must be an integer {wanted}")

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse whose help opens with `NAME: what it is`, as every Rust server's does."""

    def __init__(self, about: str, **kwargs):
        super().__init__(**kwargs)
        self.about = about

    def format_help(self) -> str:
        return f"{self.prog}: {self.about}\n\n{super().format_help()}"


def parse_args(name: str, about: str, threads_help: str, argv: list[str] | None = None) -> Config:
    """The shared flags of server `name`; a bad flag exits 2 with argparse's message."""
    # RawTextHelpFormatter: argparse would otherwise wrap a line inside `[default: ...]`.
    parser = _Parser(about, prog=name, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--listen",
        type=_listen,
        default=_listen("127.0.0.1:8080"),
        metavar="ADDR",
        help="address to listen on (port 0: an ephemeral port; the bound address is printed)\n"
        "[default: 127.0.0.1:8080]",
    )
    parser.add_argument(
        "--upstream",
        type=_upstream,
        default="http://127.0.0.1:8090",
        metavar="URL",
        help="base URL of the slow upstream (gosleep): http://HOST:PORT, or https://HOST:PORT for\n"
        "calls over TLS (certificate and host name always verified)\n[default: http://127.0.0.1:8090]",
    )
    parser.add_argument(
        "--upstream-ca",
        type=CaFile,
        default=None,
        metavar="FILE",
        help="PEM file of the CAs an https:// upstream's certificate must chain to: exactly these\n"
        "are trusted. Without it, the system's trust store",
    )
    parser.add_argument(
        "--no-tls-resumption",
        action="store_true",
        help="never resume a TLS session with the upstream: every new upstream connection\n"
        "makes a full handshake",
    )
    parser.add_argument(
        "--fanout",
        type=_ranged(1, MAX_FANOUT),
        default=5,
        metavar="N",
        help=f"upstream calls of a /multiple without n (1..={MAX_FANOUT}) [default: 5]",
    )
    parser.add_argument(
        "--no-reuse",
        action="store_true",
        help="a fresh upstream connection (TCP, and TLS over https://) for every call, closed\n"
        "after it (default: pooled keep-alive connections)",
    )
    parser.add_argument("--threads", type=_ranged(1, MAX_THREADS), default=None, metavar="N", help=threads_help)
    parser.add_argument(
        "--upstream-timeout-ms",
        type=_ranged(1, None),
        default=30_000,
        metavar="MS",
        help="total timeout of each upstream call; slower calls answer 504\n[default: 30000]",
    )
    config = Config(parser.parse_args(argv))
    # Checked after parsing, as the Rust servers' Config::upstream_tls: a bad flag, exit 2.
    if config.upstream_ca is not None and not config.is_https:
        parser.error(
            f"--upstream-ca {config.upstream_ca.path} is given, but the upstream is http://, which uses no TLS: "
            "write https:// or drop --upstream-ca"
        )
    if config.is_https and config.upstream_ca is None and (why := _no_system_anchors()):
        parser.error(why)
    return config


# --- process set-up (sys.rs) ---------------------------------------------------------------


def raise_fd_limit() -> int:
    """Raises the soft RLIMIT_NOFILE to the hard limit: a proxy under /multiple holds
    C x (1 + fanout) sockets, and the usual 1024 would turn a benchmark into an EMFILE test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError):
            pass
    return soft


def bind_listener(name: str, listen: tuple[str, int]) -> socket.socket:
    """A listening socket with SO_REUSEADDR and the contract's backlog (4096), bound before
    the framework starts, so that port 0 is resolved and a port in use is one clear line
    (and exit 1) instead of a framework's retries. Blocking; each app sets its own mode."""
    host, port = listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as e:
        sock.close()
        message = f"{name}: cannot listen on {format_addr(listen)}: {e.strerror or e}"
        if e.errno == errno.EADDRINUSE:
            free = format_addr((host, 0))
            message += f"; is another server running there? --listen {free} picks a free port"
        print(message, file=sys.stderr, flush=True)
        sys.exit(1)
    return sock


def announce(name: str, sock: socket.socket) -> None:
    """`NAME listening on http://IP:PORT` on stdout, flushed: scripts and tests that start a
    server on port 0 read the real port from this line."""
    print(f"{name} listening on http://{format_addr(sock.getsockname())}", flush=True)


class AcceptErrors:
    """What an accept loop does about its errors (sys.rs AcceptErrors): a shortage (EMFILE
    and friends, under a connection storm) pauses accepting for BACKOFF_S instead of ending
    the loop or spinning a core while nothing frees a descriptor, and is logged (a warning)
    at most once a second, with how many were held back."""

    BACKOFF_S = 0.02
    SHORTAGES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

    def __init__(self, name: str, log):
        self.name, self.log = name, log
        self.last: float | None = None
        self.suppressed = 0

    def failed(self, e: OSError) -> float | None:
        """Records a failed accept: the pause before the next one, or None when `e` is not a
        shortage (the caller's own handling stands)."""
        if e.errno not in self.SHORTAGES:
            return None
        now = time.monotonic()
        if self.last is not None and now - self.last < 1:
            self.suppressed += 1
        else:
            self.log.warning(f"{self.name}: accept failed: {e} ({self.suppressed} more held back); backing off")
            self.last, self.suppressed = now, 0
        return self.BACKOFF_S


def second_signal_exit(name: str) -> NoReturn:
    """What a second SIGTERM / Ctrl-C during the drain does: exit at once, status 1."""
    os.write(2, f"{name}: second signal while draining: exiting without waiting for requests in flight\n".encode())
    os._exit(1)


def log_level() -> str:
    """The log level of the apps' servers: `error` unless PY_LOG_LEVEL says otherwise. A
    client's malformed request is not the server's error and is not logged by default, as
    in the Rust servers (per-request logging distorts a benchmark)."""
    return os.environ.get("PY_LOG_LEVEL", "error").lower()
