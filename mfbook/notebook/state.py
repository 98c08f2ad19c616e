"""The emulator of the current notebook, for ``mfbook.current()`` (no IPython import here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..miniflare import Miniflare

__all__ = ["current", "set_current"]

_current: list[Miniflare] = []


def current() -> Miniflare:
    """The emulator built by the ``%%worker`` cells of this IPython session.

    >>> import mfbook
    >>> mfbook.current()  # before any %%worker cell
    Traceback (most recent call last):
    ...
    LookupError: no emulator yet: run a %%worker cell first (after %load_ext mfbook)

    Raises:
        LookupError: No ``%%worker`` cell has built one (or ``%mf_reset`` disposed it).
    """
    if not _current:
        raise LookupError("no emulator yet: run a %%worker cell first (after %load_ext mfbook)")
    return _current[0]


def set_current(mf: Miniflare | None) -> None:
    """Records (or with None forgets) the current emulator; used by the magics."""
    _current.clear()
    if mf is not None:
        _current.append(mf)
