"""The dashboard's web server: a read-only Bokeh server in a process of its own.

Why Bokeh server: its ``ColumnDataSource.stream`` sends only appended points over one websocket per
viewer, the plots are drawn by BokehJS (no hand-written JavaScript), and the whole server is
Python on a Tornado event loop.

Why a process: serialising documents and patches for ten viewers is Python work; on a thread of
the live process it competes for the GIL and measurably slowed the estimator
(``benchmarks/bench_dashboard.py``: p50 ×5 with 3 viewers, on a loaded 2-core machine). In its own process it cannot: the live
loop appends to the feed's deque and writes small messages to a non-blocking socket
(:mod:`.outbox`; when the server lags, the deque drops the oldest). The server process exits when
the socket closes, so it never outlives the run.

Why it is cheap and yields: the server process lowers its own scheduling priority (``nice``, 10 by
default), so on a machine with fewer free cores than busy processes the estimator wins every
contention; it wakes only when blocks arrive (no polling), and it updates all pages together a few
times a second with only the new points (:mod:`.viewers`).

Access: by default the server listens on 127.0.0.1 only (and refuses requests whose Host header
is not a loopback name, against DNS rebinding). Any other address needs an access token: every
HTTP request — page, BokehJS files, metadata, and the websocket upgrade that carries the
streaming — is checked at one place (:meth:`_GuardedTornado.find_handler`) before Bokeh sees it.
The token travels once as ``?token=…`` in the printed URL; the server answers that request by
setting an HttpOnly, SameSite=Strict cookie and redirecting to the same page without the token,
so the browser sends the cookie with every later request, the websocket included. A missing or
wrong token gets 403. The page has no controls: nothing a viewer sends changes the run.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import multiprocessing
import os
import secrets
import socket
import threading
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.server.server import BaseServer
from bokeh.server.tornado import BokehTornado
from bokeh.server.util import bind_sockets
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerRequest
from tornado.ioloop import IOLoop
from tornado.web import RequestHandler

from ..errors import ConfigError
from .board import Board
from .feed import Feed, RunInfo
from .history import History
from .outbox import Outbox, read_batches
from .page import build_document
from .viewers import Viewers

__all__ = ["DashboardServer", "is_loopback"]

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Forbidden(RequestHandler):
    def initialize(self, reason: str) -> None:
        self.reason = reason

    def prepare(self) -> None:
        self.set_status(403)
        self.finish(f"403 Forbidden: {self.reason}\n")


class _Admit(RequestHandler):
    """Turns a valid ``?token=`` into the session cookie and redirects to the page without it."""

    def initialize(self, cookie: str, token: str) -> None:
        self.cookie, self.token = cookie, token

    def prepare(self) -> None:
        self.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
        rest = {k: v[-1].decode() for k, v in self.request.query_arguments.items() if k != "token"}
        self.redirect(self.request.path + ("?" + urlencode(rest) if rest else ""))


class _GuardedTornado(BokehTornado):
    """Bokeh's Tornado application with the access check in front of every route (module docstring)."""

    def __init__(self, *args: Any, token: str | None, cookie: str, **kwargs: Any) -> None:
        self._token, self._cookie = token, cookie
        super().__init__(*args, **kwargs)

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
        if self._token is None:
            if request.host_name not in _LOOPBACK_NAMES and not is_loopback(request.host_name):
                return self.get_handler_delegate(request, _Forbidden, {"reason": "loopback-only dashboard"})
            return super().find_handler(request, **kwargs)
        given = request.query_arguments.get("token", [b""])[-1].decode(errors="replace")
        if given:
            if not hmac.compare_digest(given, self._token):
                return self.get_handler_delegate(request, _Forbidden, {"reason": "wrong access token"})
            if request.method == "GET" and "upgrade" not in request.headers.get("Connection", "").lower():
                return self.get_handler_delegate(request, _Admit, {"cookie": self._cookie, "token": self._token})
            return super().find_handler(request, **kwargs)
        cookie = request.cookies.get(self._cookie)
        if cookie is None or not hmac.compare_digest(cookie.value, self._token):
            return self.get_handler_delegate(request, _Forbidden, {"reason": "missing or wrong access token"})
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            return self.get_handler_delegate(request, _Forbidden, {"reason": "cross-origin request"})
        return super().find_handler(request, **kwargs)


class DashboardServer:
    """Serves the dashboard of ``feed`` from a child process until :meth:`stop`; a context manager.

    ``token``: ``None`` generates one when ``host`` is not loopback (required there) and uses none
    on loopback; pass a string to set it. ``port=0`` picks a free port (see :attr:`port`).
    ``update_interval_s`` / ``max_delay_s``: how often at most, and how late at most, the pages
    are updated (:class:`.viewers.Viewers`). ``nice``: added to the server process's niceness
    (0 keeps the live process's priority; ignored where the OS has no ``os.nice``).
    """

    def __init__(self, feed: Feed, *, host: str = "127.0.0.1", port: int = 8050, token: str | None = None,
                 stale_after_s: float = 5.0, history_points: int = 4000, update_interval_s: float = 0.25,
                 max_delay_s: float = 0.5, nice: int = 10) -> None:
        self.feed, self.host, self.port = feed, host, port
        self.loopback = is_loopback(host)
        self.token = token if token is not None else (None if self.loopback else secrets.token_urlsafe(24))
        if not 0 < update_interval_s <= max_delay_s <= 1.0:
            raise ConfigError(f"dashboard update interval {update_interval_s} s and maximum delay {max_delay_s} s "
                              "must satisfy 0 < interval <= delay <= 1 s (the page must follow within 1 s)")
        self._options = {"stale_after_s": stale_after_s, "history_points": history_points, "nice": nice,
                         "update_interval_s": update_interval_s, "max_delay_s": max_delay_s}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._outbox: Outbox | None = None

    @property
    def url(self) -> str:
        """The page's address (with the token, when one is needed): print it once."""
        shown = (socket.gethostname() if self.host in ("0.0.0.0", "::", "") else
                 f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{shown}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def sent(self) -> int:
        """Updates written to the server process so far."""
        return 0 if self._outbox is None else self._outbox.sent

    @property
    def pid(self) -> int | None:
        """The server process (the benchmark and tests stop it to play a stalled server)."""
        return None if self._process is None else self._process.pid

    def start(self) -> DashboardServer:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()                  # start-up: the port, or why not
        data, their_data = socket.socketpair()         # then the updates (:mod:`.outbox`)
        self._process = context.Process(target=_serve, name="qkdlab-dashboard", daemon=True,
                                        args=(theirs, their_data, self.feed.info, self.host, self.port, self.token,
                                              self._options))
        self._process.start()
        theirs.close()
        their_data.close()
        try:
            if not ours.poll(60):
                raise ConfigError("the dashboard server did not start within 60 s")
            try:
                kind, value = ours.recv()
            except EOFError:
                kind, value = "error", ("the server process ended at start; a script that starts the dashboard "
                                        "must guard its main code with `if __name__ == \"__main__\":` (spawned "
                                        "processes import it)")
            if kind == "error":
                raise ConfigError(f"cannot serve the dashboard on {self.host}:{self.port} ({value}); "
                                  "choose another --host/--port")
        except ConfigError:
            data.close()
            self.stop()
            raise
        finally:
            ours.close()
        self.port = value
        self._outbox = Outbox(self.feed, data)
        self.feed.attach(self._outbox.pump)
        return self

    def stop(self) -> None:
        """Send what is left, close the socket (the server process then exits) and wait for it."""
        if self._outbox is not None:
            self.feed.attach(None)
            self._outbox.close(10)
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

def _serve(conn: Connection, data: socket.socket, info: RunInfo, host: str, port: int, token: str | None,
           options: dict) -> None:
    """The server process: receive updates on a thread, serve the page on the main thread's loop."""
    if options["nice"] and hasattr(os, "nice"):
        os.nice(options["nice"])
    asyncio.set_event_loop(asyncio.new_event_loop())
    loop = IOLoop.current()
    board = Board(info, History(options["history_points"]))
    viewers = Viewers(loop, min_interval_s=options["update_interval_s"], max_delay_s=options["max_delay_s"])
    try:
        sockets, port = bind_sockets(host, port)
        origins = ([f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"] if is_loopback(host)
                   else [".".join(["*"] * n) + f":{port}" for n in range(1, 9)])

        def make(doc: Any) -> None:
            build_document(doc, board, viewers, stale_after_s=options["stale_after_s"])

        app = _GuardedTornado({"/": Application(FunctionHandler(make))}, token=token,
                              cookie=f"qkdlab_dashboard_{port}", extra_websocket_origins=origins)
        http = HTTPServer(app, xheaders=False)
        http.add_sockets(sockets)
        server = BaseServer(loop, app, http)
        server.start()
    except Exception as exc:  # reported by the parent as one line
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", port))
    conn.close()

    def arrived(messages: list[dict]) -> None:
        board.take(messages)
        viewers.data_arrived()

    def receive() -> None:                   # a blocking read on its own thread; the loop wakes only with data
        try:
            with data.makefile("rb") as stream:
                for batch in read_batches(stream):
                    loop.add_callback(arrived, batch)
        except OSError:
            pass
        loop.add_callback(loop.stop)

    threading.Thread(target=receive, daemon=True).start()
    viewers.start()
    try:
        loop.start()
    finally:
        server.stop()
        http.stop()
