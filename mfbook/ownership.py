"""Which Durable Object a host operation from JavaScript belongs to, by the host's own record.

Worker code is untrusted: it can rewrite every field of an outbox entry, including the
object key (``a``) the kernel writes on storage operations. The object an operation acts on
therefore comes from what Python itself recorded for the delivery (its :class:`Context`) or
for the direct call the operation is tagged with; the key JS wrote is only compared with that
record, and a mismatch (another worker's object, an object this delivery is not running, a
made-up key) is refused with a clear error instead of being looked up among all objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import StorageError

if TYPE_CHECKING:
    from .scheduling import Actor, Context, NamespaceSpec, Worker

__all__ = ["ForeignObjectError", "check_direct_target", "owned_actor"]


class ForeignObjectError(StorageError):
    """A host operation named a Durable Object its code does not run for."""


def owned_actor(ctx: Context, entry: dict[str, Any]) -> Actor:
    """The object of the delivery or direct call ``ctx``, if ``entry`` names that object.

    Args:
        ctx: the host's context of the operation (the delivery's, or that of the direct call
            the operation is tagged with).
        entry: the outbox entry; its ``a`` is what the kernel claims the target is.

    Raises:
        ForeignObjectError: the entry names no object, or one other than the context's.
    """
    actor = ctx.actor
    claimed = entry.get("a")
    if actor is None or claimed != actor.key:
        running = f"Durable Object {actor.key}" if actor is not None else "no Durable Object"
        raise ForeignObjectError(
            f"Storage operation refused: it targets {_shown(claimed)}, but the code that made it is "
            f"running for {running}. An object can only use its own storage."
        )
    return actor


def check_direct_target(worker: Worker, namespace: NamespaceSpec) -> None:
    """Refuses a direct call (``dstart``) into a class that another worker exports.

    Raises:
        ForeignObjectError: ``namespace``'s class does not live in ``worker``.
    """
    if namespace.script_name != worker.name:
        raise ForeignObjectError(
            f"Direct call refused: Durable Object class {namespace.class_name!r} of binding "
            f"{namespace.binding!r} lives in worker {namespace.script_name!r}, not in {worker.name!r}."
        )


def _shown(claimed: Any) -> str:
    if isinstance(claimed, str):
        return f"Durable Object {claimed[:200]!r}"
    return "no Durable Object"
