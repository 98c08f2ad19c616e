"""The HTTP/1.1 + WebSocket server behind ``mf.serve()`` and ``mfbook serve``.

Why aiohttp: it is a well-kept asyncio server (and client) that does everything serving a
worker needs in one dependency — HTTP/1.1 keep-alive with a C parser, request bodies read as
they arrive and responses written chunk by chunk (``StreamResponse``), and WebSockets on the
same port with close codes, ping/pong and text/binary frames. The alternatives fall short:
the standard library's ``http.server`` has no WebSockets and is thread-per-connection; an
ASGI server (uvicorn, hypercorn) would need a second library for the WebSocket protocol and an
ASGI layer between it and the emulator; tornado has no client for the tests and a slower
pure-Python parser.

The server runs an event loop on a thread of its own, never on the caller's loop (a notebook
kernel keeps running cells) and never on the emulator's (whose loop does no socket I/O).
Each request is handed to the emulator with ``dispatch_fetch_async`` — one hop to the engine
and one back — so the JavaScript of requests runs one at a time under the engine lock while
the server keeps accepting connections and moving WebSocket messages.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .http_bridge import HttpBridge

if TYPE_CHECKING:
    from ..miniflare import Miniflare

__all__ = ["ServeHandle", "start_server"]

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0


class ServeHandle:
    """A running server: its ``url``, and ``stop()`` (also called by ``mf.dispose()``).

    >>> handle = mf.serve(port=0)          # doctest: +SKIP
    >>> handle.url                         # doctest: +SKIP
    'http://127.0.0.1:40123'
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        thread: threading.Thread,
        loop: asyncio.AbstractEventLoop,
        runner: web.AppRunner,
        bridge: HttpBridge,
    ) -> None:
        self.host = host
        self.port = port
        self._thread = thread
        self._loop = loop
        self._runner = runner
        self._bridge = bridge
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8787``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def stopped(self) -> bool:
        return self._stopped

    def set_cf(self, cf: Mapping[str, Any] | None) -> None:
        """Replaces the ``request.cf`` that served requests carry (None: the default)."""
        self._bridge.cf = cf

    def stop(self) -> None:
        """Closes the listening socket and every open connection; safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if threading.current_thread() is self._thread:
            raise RuntimeError("ServeHandle.stop() cannot be called from the server's own thread")
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        try:
            future.result(_STOP_TIMEOUT)
        except Exception:  # noqa: BLE001 - stopping must always finish
            future.cancel()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_STOP_TIMEOUT)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving"
        return f"<ServeHandle {self.url} {state}>"

    def _repr_html_(self) -> str:
        import html

        if self._stopped:
            return f"<span class='mf-serve'>stopped ({html.escape(self.url)})</span>"
        url = html.escape(self.url)
        return f"<span class='mf-serve'>serving on <a href='{url}' target='_blank'>{url}</a></span>"


def _application(bridge: HttpBridge) -> web.Application:
    app = web.Application(client_max_size=1024**3)
    app.router.add_route("*", "/{tail:.*}", bridge.handle)
    return app


def start_server(
    mf: Miniflare,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    cf: Mapping[str, Any] | None = None,
) -> ServeHandle:
    """Serves ``mf``'s entry worker on ``host:port`` (``port=0``: a free port) from a new thread.

    Raises:
        OSError: The address cannot be bound (e.g. the port is in use).
    """
    loop = asyncio.new_event_loop()
    bridge = HttpBridge(mf, cf=cf)
    runner = web.AppRunner(_application(bridge), access_log=None, handle_signals=False)
    started: list[int] = []
    failure: list[BaseException] = []
    ready = threading.Event()

    async def begin() -> None:
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        server = site._server  # the asyncio.Server: the port actually bound when port=0
        sockets = getattr(server, "sockets", None) or []
        started.append(sockets[0].getsockname()[1] if sockets else port)

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(begin())
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            failure.append(error)
            ready.set()
            loop.run_until_complete(runner.cleanup())
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name=f"mfbook-serve-{port}", daemon=True)
    thread.start()
    if not ready.wait(_START_TIMEOUT):
        raise TimeoutError(f"the server on {host}:{port} did not start within {_START_TIMEOUT:g} s")
    if failure:
        thread.join(_STOP_TIMEOUT)
        raise failure[0]
    return ServeHandle(host=host, port=started[0], thread=thread, loop=loop, runner=runner, bridge=bridge)
