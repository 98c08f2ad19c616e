"""The synchronous host operations JavaScript may call (``__mfHost.call(op, payload)``).

A table of handlers by operation name (STYLE: dispatch through a table, not a chain of
``if``s). Each handler answers in the same turn, so the promise the Web API returns is
already settled when the code awaits it: no round trip through a second delivery.
Handlers that need to know *who* calls read the runtime's record of the running delivery
(:attr:`mfbook.runtime.Runtime.current`), never anything in the payload.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import WorkerError
from .host_entry import SyncHandler

__all__ = ["DIGESTS", "digest", "id_from_name", "pure_handlers"]

#: WebCrypto digest names → hashlib names.
DIGESTS = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512", "MD5": "md5"}


def digest(payload: dict[str, Any]) -> str:
    """``crypto.subtle.digest``: ``{algorithm, data}`` (binary strings, one char per byte)."""
    algorithm = DIGESTS.get(str(payload["algorithm"]).upper())
    if algorithm is None:
        raise WorkerError("NotSupportedError", f"Unrecognized name: {payload['algorithm']}")
    return hashlib.new(algorithm, payload["data"].encode("latin-1")).digest().decode("latin-1")


def id_from_name(payload: dict[str, Any]) -> str:
    """``namespace.idFromName(name)`` for long names: ``{binding, name}`` → the id's hex."""
    from ..ids import id_from_name as named_id

    return named_id(str(payload["binding"]), str(payload["name"])).hex


def pure_handlers() -> dict[str, SyncHandler]:
    """Operations that need no context (the runtime adds its own to this table)."""
    return {"digest": digest, "idFromName": id_from_name}
