"""Serving workers to real HTTP and WebSocket clients: ``mf.serve()`` and ``mfbook serve``.

``server.py`` runs the HTTP server on a thread of its own, ``http_bridge.py`` turns one HTTP
request into a ``dispatch_fetch_async`` and its response back, ``websocket_bridge.py`` pumps
the messages of an upgraded connection, ``watch.py`` notices changed files for ``--watch``
and ``cli.py`` is the console script (the only module that parses command lines).
"""

from __future__ import annotations

from .server import ServeHandle, start_server

__all__ = ["ServeHandle", "start_server"]
