"""``%load_ext mfbook``: registers :class:`~mfbook.notebook.magics.MfbookMagics` (see that module)."""

from __future__ import annotations

from typing import Any

from .notebook.magics import MfbookMagics
from .notebook.state import current

__all__ = ["MfbookMagics", "current", "load_ipython_extension", "unload_ipython_extension"]

_loaded: dict[int, MfbookMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Registers the magics and their ``%config`` options on ``ipython``."""
    if id(ipython) in _loaded:
        return
    magics = MfbookMagics(shell=ipython)
    ipython.register_magics(magics)  # MfbookMagics(shell=...) is now in ipython.configurables (%config)
    ipython.events.register("post_run_cell", magics.flush_console)
    _loaded[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """Disposes the emulator and removes the magics (``%unload_ext mfbook``)."""
    magics = _loaded.pop(id(ipython), None)
    if magics is None:
        return
    magics.dispose()
    ipython.events.unregister("post_run_cell", magics.flush_console)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    for kind, names in magics.magics.items():
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
