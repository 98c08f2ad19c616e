"""mfbook: a local Cloudflare Workers + Durable Objects emulator for Python and Jupyter.

>>> from mfbook import Miniflare
>>> with Miniflare(script='export default { fetch: () => new Response("ok") }', modules=True) as mf:
...     mf.dispatch_fetch("http://localhost/").text()
'ok'

``%load_ext mfbook`` in IPython/Jupyter registers the notebook magics.
"""

from __future__ import annotations

from typing import Any

from .codec import UNDEFINED, JSBigInt, JSError, JSMap, JSRegExp, JSSet, JSTypedArray
from .errors import (
    ConfigError,
    ConflictError,
    DisposedError,
    Interrupted,
    LimitExceeded,
    MfbookError,
    SqlError,
    StorageError,
    StorageRangeError,
    StorageTypeError,
    WorkerError,
)
from .http import Headers, Response
from .ids import DurableObjectId
from .miniflare import Miniflare
from .notebook.state import current
from .objects import DurableObjectStorage
from .rpc_proxy import RpcStub
from .sql.python_api import SqlRows
from .stubs import DurableObjectNamespace, DurableObjectStub
from .trace import Trace, TraceEvent
from .websocket_client import WebSocketClient, WebSocketClosed

__all__ = [
    "ConfigError",
    "ConflictError",
    "DisposedError",
    "DurableObjectId",
    "DurableObjectNamespace",
    "DurableObjectStorage",
    "DurableObjectStub",
    "Headers",
    "Interrupted",
    "JSBigInt",
    "JSError",
    "JSMap",
    "JSRegExp",
    "JSSet",
    "JSTypedArray",
    "LimitExceeded",
    "MfbookError",
    "Miniflare",
    "Response",
    "RpcStub",
    "SqlError",
    "SqlRows",
    "StorageError",
    "StorageRangeError",
    "StorageTypeError",
    "Trace",
    "TraceEvent",
    "UNDEFINED",
    "WebSocketClient",
    "WebSocketClosed",
    "WorkerError",
    "current",
]

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mfbook``: registers the magics (imported lazily: the engine needs no IPython)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
