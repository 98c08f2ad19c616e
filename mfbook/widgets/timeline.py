"""``Timeline``: transactions over time, one row each, with their attempts (anywidget).

One row per transaction (a request or a Python thread), grouped by object; its attempts in
sequence, colored and marked by outcome; time spent waiting at the input gate drawn as waiting;
a conflict names its keys and points at the commit that won. Click a bar for its read and write
sets. The data comes from ``mf.trace``. Live updates are *deltas*: the kernel sends only what
changed since the revision the front end acknowledged (see :class:`.live.FlowControl`).
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets
from rich.console import Group

from ..trace import TraceEvent
from .fallback import StaticFallback
from .frontend import esm
from .live import FlowControl, Throttle
from .static import timeline_html, timeline_rich, timeline_text, with_fallback
from .timeline_model import TimelineModel

if TYPE_CHECKING:
    from ..miniflare import Miniflare

__all__ = ["Timeline"]

_HERE = pathlib.Path(__file__).parent
PAUSED_STALL = "Live updates paused: the page fell behind the trace. Resume to catch up."
STATIC_ROWS = 150  # transactions in the static fallback (the newest)
STATIC_TEXT_ROWS = 12  # attempts in its plain text
DISPOSED = "Emulator disposed: re-run %do_timeline (or create a new Timeline) to follow a new one."


class Timeline(anywidget.AnyWidget):
    """A live transaction timeline for one emulator.

    Args:
        mf: The emulator.
        lanes: ``"object"`` (attempts grouped by object) or ``"request"``.
        objects: Only show these objects (``"BINDING:name"`` keys); None shows all.
        since: Only events after this trace ``seq`` (e.g. ``len(mf.trace)`` before a run).
        live: Follow the trace (throttled to ``interval`` seconds).
        interval: Minimum seconds between two live updates.
        max_bars: Keep at most this many attempts (the oldest go; the summary says so).
        stall_after: Pause live updates when the page has not drawn an update for this long.
        clock: Monotonic clock for the stall check (injectable for tests).

    >>> Timeline(mf, objects=["COUNTER:alice"])    # doctest: +SKIP
    """

    _esm = esm("timeline_parts.js", "timeline.js")
    _css = _HERE / "widgets.css"

    object_filter = traitlets.List(traitlets.Unicode()).tag(sync=True)
    live = traitlets.Bool(True).tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)
    disposed = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        mf: Miniflare,
        *,
        lanes: str = "object",
        objects: list[str] | None = None,
        since: int = 0,
        live: bool = True,
        interval: float = 0.2,
        max_bars: int = 5000,
        stall_after: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self._mf = mf
        self._lock = threading.RLock()
        self.model = TimelineModel(lanes=lanes, max_bars=max_bars)
        self.model.last_seq = since
        self.flow = FlowControl(stall_after=stall_after, **({"clock": clock} if clock else {}))
        self._attached = False  # a front end asked for the timeline
        self.flow_rev = 0  # the revision the front end holds once it has drawn what was sent
        self._interval = interval
        self._throttle = Throttle(self.refresh, interval=interval)
        self._unsubscribe = mf.trace.subscribe(self._on_event)
        self.changes = 0  # transaction and commit events seen (the static fallback's version)
        self._fallback = StaticFallback(self._static_pair, version=lambda: self.changes, shell=_shell())
        self.object_filter = list(objects or [])
        self.live = live
        self.sent: list[dict[str, Any]] = []  # the last two messages sent (for tests and debugging)
        self._feed()
        self.observe(self._on_filter, names="object_filter")
        self.observe(self._on_live, names="live")
        self.on_msg(self._on_message)

    # ------------------------------------------------------------------ data
    def _feed(self) -> bool:
        try:
            return self.model.feed(self._mf.trace.events(since=self.model.last_seq))
        except Exception as error:  # noqa: BLE001 - shown in the widget
            self.notice = f"{type(error).__name__}: {error}"
            return False

    @property
    def data(self) -> dict[str, Any]:
        """The whole (filtered) timeline as plain data, read now (not what is sent live)."""
        with self._lock:
            self._feed()
            return self.model.to_json(objects=self.object_filter or None)

    def refresh(self) -> None:
        """Applies new trace events and sends what changed to the front end (if it can take it).

        The refresh runs on a timer thread; its cost sets the next interval (at most a fifth of
        the time goes to refreshing), so a flood of events slows the updates, not the kernel.
        """
        started = time.perf_counter()
        with self._lock:
            self._feed()
            self._push()
        self._throttle.interval = max(self._interval, 5 * (time.perf_counter() - started))

    def _push(self) -> None:
        if not self._attached or not self.live or self.disposed:
            return
        if not self.flow.may_send():
            if self.flow.stalled():
                self.live = False
                self.notice = PAUSED_STALL
            return
        since = self.flow_rev
        if self.model.revision == since:
            return
        self._send_delta(since)

    def _send_delta(self, since: int) -> None:
        view = self.model.view(objects=self.object_filter or None)
        message = {"type": "delta", **self.model.delta(since), "view": view}
        self.flow_rev = message["rev"]
        self.flow.sent(message["rev"])
        self._remember(message)
        self.send(message)

    def _remember(self, message: dict[str, Any]) -> None:
        self.sent = [*self.sent[-1:], message]  # the last two (a full sync can be megabytes)

    def _on_event(self, event: TraceEvent) -> None:
        # Emulator thread: poke only; the refresh pulls events on the timer thread.
        if event.kind == "emulator.dispose":
            self.disposed = True
            self.live = False
            self.notice = DISPOSED
        elif event.kind.startswith("txn.") or event.kind == "storage.commit":
            self.changes += 1
            if self.live:
                self._throttle.poke()

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        # The kernel's main thread: never wait for the refresh lock on an acknowledgement
        # (a refresh in progress would stall every cell behind it).
        kind = content.get("type")
        if kind == "ack":
            self.flow.acked(int(content.get("rev", 0)))
            self._throttle.poke()
        elif kind == "sync":  # a view (re)starts: everything from revision 0
            with self._lock:
                self._attached = True
                self.flow.reset()
                self._feed()
                self._send_delta(0)
        elif kind == "resume":
            self.notice = ""
            self.live = True

    def _on_filter(self, _change: dict[str, Any]) -> None:
        with self._lock:
            message = {"type": "view", "view": self.model.view(objects=self.object_filter or None)}
            self._remember(message)
            self.send(message)

    def _on_live(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.flow.reset()
            self._throttle.poke()

    def close(self) -> None:
        """Stops following the trace and closes the widget."""
        self._unsubscribe()
        self._throttle.close()
        self._fallback.close()
        super().close()

    # ------------------------------------------------------------------ static renderings
    def _static_data(self) -> dict[str, Any]:
        with self._lock:
            self._feed()
            return self.model.to_json(objects=self.object_filter or None)

    def _static_pair(self) -> tuple[str, str]:
        with self._lock:
            self._feed()
            data = self.model.to_json(objects=self.object_filter or None, newest=STATIC_ROWS)
        return timeline_html(data), timeline_text(data, max_rows=STATIC_TEXT_ROWS)

    def _repr_html_(self) -> str:
        return timeline_html(self._static_data())

    def __rich__(self) -> Group:
        return timeline_rich(self._static_data())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        data = self._static_data()
        return with_fallback(super()._repr_mimebundle_(**kwargs), timeline_html(data), timeline_rich(data))

    def _ipython_display_(self) -> None:
        """Two outputs: the static fallback (for exports), then the live widget."""
        show_widget_with_fallback(self, self._fallback)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    return get_ipython()


def show_widget_with_fallback(widget: anywidget.AnyWidget, fallback: StaticFallback) -> None:
    """Displays ``fallback`` then the widget view (see :mod:`.fallback`)."""
    from IPython.display import display

    fallback.show()
    bundle = anywidget.AnyWidget._repr_mimebundle_(widget)
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
    display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]
