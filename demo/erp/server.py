"""Serve an ASGI app (the demo accounting system) with uvicorn in a background thread, for tests and demos."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

#: How long start-up and shutdown may take before serve() gives up.
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket; we bind it ourselves so that port 0 gets a free port with no race."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it
    # every small answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def serve(app: Any, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any) -> Iterator[str]:
    """Run ``app`` on ``host:port`` (a free port when 0) while the block runs; yields the base URL with a slash.

    uvicorn runs in a daemon thread with its access log off (URLs and headers are not logged) and its own
    warnings going to the ``uvicorn`` loggers. The context waits
    until the server accepts connections, and on exit asks it to stop and joins the thread. ``uvicorn_options`` go
    to ``uvicorn.Config`` (e.g. ``ssl_certfile``/``ssl_keyfile``: the URL is then https).
    """
    sock = _bind(host, port)
    port = int(sock.getsockname()[1])
    # log_config=None: leave the process's logging alone (uvicorn's default dictConfig would rewire it).
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2, timeout_keep_alive=5, **uvicorn_options)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # uvicorn exits with SystemExit; reported below
            failure.append(e)

    thread = threading.Thread(target=run, name=f"demo-erp-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not (server.started and _answers(host, port)):
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"the server on {host}:{port} did not start"
                                   + (f": {failure[0]!r}" if failure else ""))
            time.sleep(0.02)
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if uvicorn_options.get("ssl_certfile") else "http"
        yield f"{scheme}://{shown}:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=_STOP_TIMEOUT)
        sock.close()
