"""Input gates: what keeps a Durable Object's code from interleaving while storage works.

An object's gate is *closed* while a storage operation is in flight (until the microtasks
after its result have run, like Miniflare's ``setImmediate`` unlock) and while a
``blockConcurrencyWhile`` callback or a transaction *section* runs. While closed, new events
(fetch, RPC, alarm) and I/O results (timers, subrequest responses) for the object wait in
order; work that belongs to the open section itself passes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["InputGate"]


class InputGate:
    """Per-object input gate (used under the engine lock only)."""

    def __init__(self) -> None:
        self.locks = 0
        self.sections: dict[int, int | None] = {}  # section id -> parent section
        self._parked: deque[Any] = deque()
        self._on_open: Callable[[list[Any]], None] | None = None

    def bind(self, on_open: Callable[[list[Any]], None]) -> None:
        """Sets who gets the parked work back when the gate opens."""
        self._on_open = on_open

    def admits(self, section: int | None) -> bool:
        """True when work of ``section`` (None = no section) may run now."""
        if section is not None and section in self.sections:
            return True
        return self.locks == 0 and not self.sections

    def park(self, item: Any) -> None:
        self._parked.append(item)

    def lock(self) -> None:
        self.locks += 1

    def unlock(self) -> None:
        # A reset (the isolate failed, or work nobody could finish was dropped) already
        # released the locks of the deliveries still running: their unlock is a no-op.
        if self.locks > 0:
            self.locks -= 1
        self._maybe_release()

    def open_section(self, section: int, parent: int | None) -> None:
        self.sections[section] = parent

    def close_section(self, section: int) -> int | None:
        parent = self.sections.pop(section, None)
        self._maybe_release()
        return parent

    def reset(self) -> list[Any]:
        """Opens the gate completely (object reset) and returns what was parked."""
        self.locks = 0
        self.sections.clear()
        parked = list(self._parked)
        self._parked.clear()
        return parked

    def _maybe_release(self) -> None:
        if self._parked and self._on_open is not None and (self.locks == 0 or self.sections):
            parked = list(self._parked)
            self._parked.clear()
            self._on_open(parked)

    @property
    def is_open(self) -> bool:
        return self.locks == 0 and not self.sections
