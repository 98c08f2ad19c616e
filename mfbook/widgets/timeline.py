"""``Timeline``: transaction attempts over time, with conflicts and retries (anywidget).

One lane per object (or per request); each attempt a bar from ``txn.begin`` to its outcome,
colored by outcome; a retry is linked to the attempt it replaces; a conflict points at the
commit that won and names the keys. Click a bar for its read and write sets. The data comes
from ``mf.trace``; the widget follows it live (throttled) while requests run.
"""

from __future__ import annotations

import pathlib
import threading
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets
from rich.console import Group

from ..trace import TraceEvent
from .frontend import esm
from .live import Throttle
from .static import timeline_html, timeline_rich, with_fallback
from .timeline_model import TimelineModel

if TYPE_CHECKING:
    from ..miniflare import Miniflare

__all__ = ["Timeline"]

_HERE = pathlib.Path(__file__).parent


class Timeline(anywidget.AnyWidget):
    """A live transaction timeline for one emulator.

    Args:
        mf: The emulator.
        lanes: ``"object"`` (one lane per object) or ``"request"``.
        objects: Only show these objects (``"BINDING:name"`` keys); None shows all.
        since: Only events after this trace ``seq`` (e.g. ``len(mf.trace)`` before a run).
        live: Follow the trace (throttled to ``interval`` seconds).
        interval: Minimum seconds between two live updates.

    >>> Timeline(mf, objects=["COUNTER:alice"])    # doctest: +SKIP
    """

    _esm = esm("timeline.js")
    _css = _HERE / "widgets.css"

    data = traitlets.Dict().tag(sync=True)
    object_filter = traitlets.List(traitlets.Unicode()).tag(sync=True)
    live = traitlets.Bool(True).tag(sync=True)

    def __init__(
        self,
        mf: Miniflare,
        *,
        lanes: str = "object",
        objects: list[str] | None = None,
        since: int = 0,
        live: bool = True,
        interval: float = 0.2,
    ) -> None:
        super().__init__()
        self._mf = mf
        self._lock = threading.RLock()
        self.model = TimelineModel(lanes=lanes)
        self.model.last_seq = since
        self._throttle = Throttle(self.refresh, interval=interval)
        self._unsubscribe = mf.trace.subscribe(self._on_event)
        self.object_filter = list(objects or [])
        self.live = live
        self.refresh()

    def refresh(self) -> None:
        """Applies new trace events and sends the timeline to the front end."""
        with self._lock:
            self.model.feed(self._mf.trace.events(since=self.model.last_seq))
            self.data = self.model.to_json()

    def _on_event(self, event: TraceEvent) -> None:
        # Emulator thread: poke only; the refresh pulls events on the timer thread.
        if self.live and (event.kind.startswith("txn.") or event.kind == "storage.commit"):
            self._throttle.poke()

    def close(self) -> None:
        """Stops following the trace and closes the widget."""
        self._unsubscribe()
        self._throttle.close()
        super().close()

    # ------------------------------------------------------------------ static renderings
    def _static_data(self) -> dict[str, Any]:
        with self._lock:
            self.model.feed(self._mf.trace.events(since=self.model.last_seq))
            return self.model.to_json(objects=self.object_filter or None)

    def _repr_html_(self) -> str:
        return timeline_html(self._static_data())

    def __rich__(self) -> Group:
        return timeline_rich(self._static_data())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        data = self._static_data()
        return with_fallback(super()._repr_mimebundle_(**kwargs), timeline_html(data), timeline_rich(data))
