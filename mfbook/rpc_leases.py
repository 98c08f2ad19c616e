"""Stubs a request received are released when it ends (workerd disposes them with its context).

A stateless request (a worker's fetch, an entrypoint call) that receives stubs in RPC results
holds them only while it runs: when it ends, every export behind them is released in its
owner's isolate (the target's ``Symbol.dispose`` runs), and a stub kept past the request fails
with workerd's "RPC stub used after being disposed.". Objects keep what they receive for the
life of their instance, as their context lives that long. Stubs handed to Python are released
by Python (:class:`mfbook.rpc_proxy.RpcStub`).

The nodes are the kernel's (``mfbook/js/kernel/rpc_targets.js``): ``x`` the export, ``w`` the
owner isolate's token, ``n`` its worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import Runtime
    from .scheduling import Context, RequestState

__all__ = ["lease", "release_leases", "stub_nodes"]

#: Where a release is delivered: the owner isolate itself, outside any object's gate.
_ISOLATE_TARGET = json.dumps({"entrypoint": None})


def stub_nodes(text: str) -> list[dict[str, Any]]:
    """The stub nodes in an RPC message (codec text); ``[]`` for the usual message without any."""
    if '"stub"' not in text:
        return []
    found: list[dict[str, Any]] = []
    pending: list[Any] = [json.loads(text)]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            if item.get("$") == "stub":
                found.append(item)
            else:
                pending.extend(item.values())
        elif type(item) is list:
            pending.extend(item)
    return found


def lease(ctx: Context, nodes: Iterable[Any]) -> None:
    """Records the stubs a context received, if it is a request's (not an object's)."""
    if ctx.actor is not None or ctx.request is None:
        return
    kept = [node for node in nodes if isinstance(node, dict) and isinstance(node.get("n"), str)]
    if kept:
        if ctx.request.leases is None:
            ctx.request.leases = []
        ctx.request.leases.extend(kept)


def release_leases(runtime: Runtime, request: RequestState) -> None:
    """Releases what ``request`` received: one release call per export, in its owner's isolate."""
    nodes, request.leases = request.leases or [], None
    for node in nodes:
        worker = runtime.workers.get(str(node["n"]))
        if worker is None:
            continue
        spec = "\u0000" + json.dumps({"p": [], "r": 1, "w": node.get("w"), "x": node.get("x")}, separators=(",", ":"))
        runtime.start_event(
            "rpc",
            worker,
            None,
            runtime.new_request(None),
            (spec, "[]"),
            lambda ok, value: None,
            trace_data={"method": f"[stub {node.get('x')}] (released with request {request.request_id})"},
            target_text=_ISOLATE_TARGET,
        )
