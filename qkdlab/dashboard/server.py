"""The dashboard's web server: a Bokeh server on its own thread and event loop, read-only.

Why Bokeh server: its ``ColumnDataSource.stream`` sends only appended points over one websocket per
viewer, the plots are drawn by BokehJS (no hand-written JavaScript), and the whole server runs in
Python on a Tornado event loop we can put on a background thread beside the live loop.

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
import secrets
import threading
from typing import Any
from urllib.parse import urlencode

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.server.server import BaseServer
from bokeh.server.tornado import BokehTornado
from bokeh.server.util import bind_sockets
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerRequest
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.web import RequestHandler

from ..errors import ConfigError
from .feed import Board, Feed
from .history import History
from .page import build_document

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
    """Serves the dashboard of ``feed`` until :meth:`stop`; use as a context manager.

    ``token``: ``None`` generates one when ``host`` is not loopback (required there) and uses none
    on loopback; pass a string to set it. ``port=0`` picks a free port (see :attr:`port`).
    """

    def __init__(self, feed: Feed, *, host: str = "127.0.0.1", port: int = 8050, token: str | None = None,
                 poll_s: float = 0.1, refresh_ms: int = 200, stale_after_s: float = 5.0,
                 history_points: int = 4000) -> None:
        self.host, self.port = host, port
        self.loopback = is_loopback(host)
        self.token = token if token is not None else (None if self.loopback else secrets.token_urlsafe(24))
        self.board = Board(feed, History(history_points))
        self._poll_ms, self._refresh_ms, self._stale = poll_s * 1e3, refresh_ms, stale_after_s
        self._thread: threading.Thread | None = None
        self._loop: IOLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The page's address (with the token, when one is needed): print it once."""
        shown = f"[{self.host}]" if ":" in self.host else ("127.0.0.1" if self.host == "0.0.0.0" else self.host)
        return f"http://{shown}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> DashboardServer:
        self._thread = threading.Thread(target=self._serve, name="qkdlab-dashboard", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise ConfigError(f"cannot serve the dashboard on {self.host}:{self.port} ({self._error}); "
                              "choose another --host/--port") from None
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.add_callback(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the server thread ---------------------------------------------------------------------
    def _make(self, doc: Any) -> None:
        build_document(doc, self.board, refresh_ms=self._refresh_ms, stale_after_s=self._stale)

    def _serve(self) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        try:
            self._loop = IOLoop.current()
            sockets, self.port = bind_sockets(self.host, self.port)
            origins = ([f"localhost:{self.port}", f"127.0.0.1:{self.port}", f"[::1]:{self.port}"] if self.loopback
                       else [".".join(["*"] * n) + f":{self.port}" for n in range(1, 9)])
            app = _GuardedTornado({"/": Application(FunctionHandler(self._make))}, token=self.token,
                                  cookie=f"qkdlab_dashboard_{self.port}", extra_websocket_origins=origins)
            http = HTTPServer(app, xheaders=False)
            http.add_sockets(sockets)
            server = BaseServer(self._loop, app, http)
            server.start()
            PeriodicCallback(self.board.poll, self._poll_ms).start()
        except Exception as exc:  # reported by start() as one line
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.start()
        finally:
            server.stop()
            http.stop()
            self._loop.close(all_fds=True)
