"""``%load_ext mfbook``: registers :class:`~mfbook.notebook.magics.MfbookMagics` (see that module)."""

from __future__ import annotations

from typing import Any

from .notebook.magics import MfbookMagics
from .notebook.object_magics import ObjectMagics
from .notebook.state import current

__all__ = ["MfbookMagics", "current", "load_ipython_extension", "unload_ipython_extension"]

_loaded: dict[int, tuple[MfbookMagics, ObjectMagics]] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Registers the magics and their ``%config`` options on ``ipython``."""
    if id(ipython) in _loaded:
        return
    magics = MfbookMagics(shell=ipython)
    ipython.register_magics(magics)  # MfbookMagics(shell=...) is now in ipython.configurables (%config)
    objects = ObjectMagics(shell=ipython, session=magics)  # %do_*: share the session's emulator
    ipython.register_magics(objects)
    ipython.events.register("post_run_cell", magics.flush_console)
    _loaded[id(ipython)] = (magics, objects)


def unload_ipython_extension(ipython: Any) -> None:
    """Disposes the emulator and removes the magics (``%unload_ext mfbook``)."""
    loaded = _loaded.pop(id(ipython), None)
    if loaded is None:
        return
    magics, objects = loaded
    magics.dispose()
    ipython.events.unregister("post_run_cell", magics.flush_console)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    for registered in (magics, objects):
        for kind, names in registered.magics.items():
            for name in names:
                ipython.magics_manager.magics[kind].pop(name, None)
