"""What every mfbook magic needs: argument parsing, the running emulator, object lookup.

Shared by :class:`~mfbook.notebook.magics.MfbookMagics` and
:class:`~mfbook.notebook.object_magics.ObjectMagics` through one :class:`MagicHelpers`
instance, which reads the emulator and the worker cells from the ``MfbookMagics`` it serves.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ..ids import DurableObjectId
from ..miniflare import Miniflare
from ..stubs import DurableObjectNamespace
from .cells import WorkerCell
from .translate import ENGINE_ERRORS, usage_error

if TYPE_CHECKING:
    from .magics import MfbookMagics

__all__ = ["NO_WORKER", "MagicHelpers", "parse_arguments"]

NO_WORKER = "no worker yet: define one in a %%worker cell first, e.g. %%worker --do COUNTER=Counter"


def parse_arguments(magic: Any, line: str) -> Any:
    """Parses ``line`` (shell-like quoting, options anywhere) with the magic's declared arguments."""
    try:
        argv = shlex.split(line)
    except ValueError as error:
        raise UsageError(f"%{magic.__name__}: {error} in {line!r} (check the quotes)") from None
    return magic.parser.parse_intermixed_args(argv)


class MagicHelpers:
    """Looks up the emulator, namespaces and objects for a magic, with usage errors that help."""

    def __init__(self, magics: MfbookMagics) -> None:
        self._magics = magics

    @contextmanager
    def engine(self, magic: str, cell: WorkerCell | None) -> Iterator[None]:
        """Runs engine calls: engine errors become UsageError, console lines print afterwards."""
        try:
            yield
        except ENGINE_ERRORS as error:
            raise usage_error(error, magic=magic, cell=cell) from None
        finally:
            self._magics.flush_console()

    def require(self) -> Miniflare:
        if self._magics.mf is None:
            if self._magics.registry.missing_workers():
                missing = next(iter(self._magics.registry.missing_workers()))
                raise UsageError(
                    f"the workers are not loaded yet: define worker {missing!r} in a `%%worker {missing}` cell"
                )
            raise UsageError(NO_WORKER)
        if self._magics.mf.disposed:
            raise UsageError(
                "the emulator was disposed - run a %%worker cell (or %mf_reset --keep-workers) to start a new one"
            )
        return self._magics.mf

    def namespace(self, binding: str, magic: str) -> tuple[DurableObjectNamespace, WorkerCell | None]:
        """The namespace bound as ``binding`` and the cell that exports its class."""
        mf = self.require()
        cell = self._magics.registry.cell_for_binding(binding)
        if cell is None:
            known = ", ".join(self._magics.registry.bindings()) or "none"
            raise UsageError(
                f"%{magic}: unknown Durable Object binding {binding!r} (bindings: {known}) - "
                f"add --do {binding or 'BINDING'}=ClassName to a %%worker cell"
            )
        with self.engine(magic, cell):
            namespace = mf.get_durable_object_namespace(binding, worker_name=cell.name)
        return namespace, self._magics.registry.cells.get(cell.class_worker(binding))

    def object_id(
        self, namespace: DurableObjectNamespace, name: str | None, hex_id: str | None, magic: str
    ) -> DurableObjectId:
        if hex_id is not None:
            try:
                return namespace.id_from_string(hex_id)
            except (TypeError, ValueError) as error:
                raise UsageError(
                    f"%{magic}: {error} Got {hex_id!r}; list valid ids with %do_ids {namespace.binding}"
                ) from None
        if name is None:
            raise UsageError(
                f"%{magic}: missing object: give NAME (the idFromName name) or --id HEX after {namespace.binding}"
            )
        return namespace.id_from_name(name)

    def target(
        self, binding: str, name: str | None, hex_id: str | None, magic: str
    ) -> tuple[DurableObjectNamespace, DurableObjectId, WorkerCell | None]:
        namespace, cell = self.namespace(binding, magic)
        return namespace, self.object_id(namespace, name, hex_id, magic), cell

    def evaluate(self, expression: str, magic: str, what: str) -> Any:
        """Evaluates a Python expression in the user namespace (any error is the user's)."""
        user_ns = self._magics.shell.user_ns if self._magics.shell is not None else {}
        try:
            return eval(expression, user_ns)  # noqa: S307 - the user's own notebook code
        except Exception as error:  # noqa: BLE001 - user code: every failure is a usage error
            raise UsageError(
                f"%{magic}: cannot evaluate {what} {expression!r}: {type(error).__name__}: {error}"
            ) from None

    @staticmethod
    def label(object_id: DurableObjectId) -> str:
        return f"{object_id.binding} {object_id.name if object_id.name is not None else object_id.hex[:16] + '…'}"

    def static(self) -> bool:
        """True without a widget frontend (terminal IPython, tests): use the static tables."""
        return getattr(self._magics.shell, "kernel", None) is None

    @staticmethod
    def widget(name: str) -> Any:
        try:  # the widgets package imports its widgets lazily: both steps may raise ImportError
            return getattr(importlib.import_module("mfbook.widgets"), name, None)
        except ImportError:
            return None
