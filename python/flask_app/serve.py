"""server-flask: the launcher. Parses the contract's flags, binds the listening socket,
and runs gunicorn (its arbiter and one gthread worker) on it with the Flask app.

    python/.venv/bin/python python/flask_app/serve.py --listen 127.0.0.1:0 --threads 256

Prints `server-flask listening on http://IP:PORT` once the worker is serving. SIGTERM /
Ctrl-C: stop accepting, let requests in flight finish (35 s at most), exit 0; a second one
during that drain exits at once with status 1.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import contract  # noqa: E402
from contract import Config  # noqa: E402

NAME = "server-flask"
ABOUT = (
    "the benchmark's /single and /multiple proxy on Flask, under gunicorn's threaded "
    "worker (gthread, 1 worker, a pool of --threads threads), requests as the upstream client"
)


def default_threads() -> int:
    """The pool without --threads: 8 x CPUs, server-rouille's default (gunicorn's own is 1
    thread, which would serve one request at a time)."""
    return 8 * (len(os.sched_getaffinity(0)) or 1)


KEEPALIVE_S = 24 * 3600
"""gunicorn closes a keep-alive connection idle this long (its default is 2 s). The
contract never times an idle keep-alive connection out; gunicorn needs a number."""


class Worker(ThreadWorker):
    """gunicorn's gthread worker, surviving a shortage of descriptors: gthread lets
    accept's EMFILE out of its event loop, which ends the worker process (the arbiter
    starts another, dropping every connection of the old one, and logs a traceback). Here
    the accept pauses and is retried (contract.AcceptErrors). The pause holds the worker's
    event loop, which only dispatches: requests go on on the pool's threads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.accept_errors = contract.AcceptErrors(NAME, self.log)

    def accept(self, listener) -> None:
        try:
            super().accept(listener)
        except OSError as e:
            pause = self.accept_errors.failed(e)
            if pause is None:
                raise
            time.sleep(pause)


class FlaskServer(BaseApplication):
    """gunicorn, configured in code rather than by its command line or a config file."""

    def __init__(self, config: Config, fd: int, threads: int):
        self.config, self.fd, self.threads = config, fd, threads
        super().__init__()

    def load_config(self) -> None:
        settings = {
            # Our socket, already bound and listening with the contract's backlog.
            "bind": [f"fd://{self.fd}"],
            "backlog": contract.LISTEN_BACKLOG,
            "workers": 1,
            "worker_class": Worker,
            "threads": self.threads,
            # gthread stops accepting at worker_connections (default 1000) and answers
            # "Connection: close" once worker_connections - threads connections are kept
            # alive: with 1,000 load-generator connections and 256 threads, 256 of them
            # would reconnect for every request.
            "worker_connections": 65536,
            "keepalive": KEEPALIVE_S,
            "graceful_timeout": contract.SHUTDOWN_GRACE_S,
            # The contract's head limits, as far as gunicorn has them (README): its request
            # line is at most 8190 bytes, and it limits each header line, not the head.
            "limit_request_line": 8190,
            "limit_request_fields": contract.MAX_HEADERS,
            "limit_request_field_size": contract.MAX_HEAD_BYTES,
            "loglevel": contract.log_level(),
            "accesslog": None,
            "proc_name": NAME,
            # gunicorn 27 opens a control socket in $HOME by default: two servers would
            # share it, and the benchmark needs none.
            "control_socket_disable": True,
            "when_ready": self.when_ready,
            "post_worker_init": self.post_worker_init,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        # In the worker, after the fork: the app's thread pools start there.
        from flask_app.app import create_app

        return create_app(self.config, self.threads)

    @staticmethod
    def when_ready(arbiter) -> None:
        """In the arbiter, its signals installed: SIGINT drains like SIGTERM (gunicorn's
        own SIGINT is a quick stop), and a second signal ends everything at once."""
        signals = []

        def on_signal(sig, frame):
            signals.append(sig)
            if len(signals) > 1:
                for pid in list(arbiter.WORKERS):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                contract.second_signal_exit(NAME)
            arbiter.signal(signal.SIGTERM, frame)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    @staticmethod
    def post_worker_init(worker) -> None:
        """In the worker, ready to serve: a stop closes the listening socket at once, Ctrl-C
        (sent to the whole process group) drains like SIGTERM, and the first worker
        announces the address.

        gthread on SIGTERM stops calling accept but keeps its copy of the listening socket
        open until its drain ends (the arbiter closes only its own), so connections made
        meanwhile would wait unanswered in the backlog and be reset at the exit. Closing it
        is handed to the worker's main loop (gthread's method queue), which first takes it
        out of its poller."""

        def stop_accepting() -> None:
            worker.set_accept_enabled(False)
            for listener in worker.sockets:
                listener.close()

        def on_stop(sig, frame) -> None:
            worker.method_queue.defer(stop_accepting)
            worker.handle_exit(sig, frame)

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        # As gunicorn has it: a stop does not interrupt the system calls of requests.
        signal.siginterrupt(signal.SIGTERM, False)
        signal.siginterrupt(signal.SIGINT, False)
        if worker.age == 1:
            contract.announce(NAME, worker.sockets[0])


def main() -> None:
    threads_help = (
        "gunicorn's gthread pool: requests served at once (each blocks its thread on the\nupstream) [default: 8 x CPUs]"
    )
    config = contract.parse_args(NAME, ABOUT, threads_help)
    contract.raise_fd_limit()
    sock = contract.bind_listener(NAME, config.listen)
    sock.set_inheritable(True)
    # gunicorn takes the descriptor over (and closes this number once it has its own).
    fd = sock.detach()
    FlaskServer(config, fd, config.threads or default_threads()).run()


if __name__ == "__main__":
    main()
