"""The static fallback shown beside a widget: readable after export, current at export time.

An exported notebook (``jupyter nbconvert --to html --execute``, default settings) stores the
widget state, and its HTML then draws the widget view, which needs JavaScript from the network,
instead of the ``text/html`` in the same output. So a widget is displayed as *two* outputs: a
static ``text/html`` + ``text/plain`` output (with a display id), then the widget view. The
static output is refreshed after every cell that changed the widget's data, so an export shows
the data as it was at the end of the run. In JupyterLab and Notebook 7 the widget's stylesheet
hides the static output once the widget next to it has rendered (``widgets.css``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["StaticFallback"]


class StaticFallback:
    """A display of ``render()``'s ``(html, text)``, updated after each cell when it changed.

    The update runs on the kernel's main thread after every cell, so it must be cheap:
    ``version()`` (a counter of changes, say) is compared first and ``render()`` runs only when
    it moved; renderers keep their output bounded.

    Args:
        render: Returns the current ``(html, plain_text)``.
        version: Returns something that changes whenever the data may have changed.
        shell: The IPython shell whose ``post_run_cell`` triggers updates (None: no updates).
        update: Replaces the shown output: ``update(bundle, display_id)`` (default: IPython's
            ``update_display``; injectable for tests).
    """

    def __init__(
        self,
        render: Callable[[], tuple[str, str]],
        *,
        version: Callable[[], object],
        shell: Any = None,
        update: Callable[[dict[str, str], str], None] | None = None,
    ) -> None:
        self._render = render
        self._update = update or _update_display
        self._version = version
        self._rendered_version: object = None
        self._shell = shell
        self.display_id = f"mf-fallback-{uuid.uuid4().hex}"
        self._shown: tuple[str, str] | None = None
        self._hooked = False

    def bundle(self) -> dict[str, str]:
        self._rendered_version = self._version()
        html, text = self._render()
        self._shown = (html, text)
        return {"text/html": f"<div class='mf-static-fallback'>{html}</div>", "text/plain": text}

    def show(self) -> None:
        """Displays the static output (once per call) and starts the after-cell updates."""
        from IPython.display import display

        display(self.bundle(), raw=True, display_id=self.display_id)  # type: ignore[no-untyped-call]
        if self._shell is not None and not self._hooked:
            self._shell.events.register("post_run_cell", self.after_cell)
            self._hooked = True

    def after_cell(self, *_: Any) -> None:
        """Updates the static output if what it shows changed (an IPython ``post_run_cell`` hook)."""
        if self._shown is None or self._version() == self._rendered_version:
            return
        self._rendered_version = self._version()
        try:
            current = self._render()
        except Exception:  # noqa: BLE001 - a disposed emulator keeps the last good fallback
            return
        if current == self._shown:
            return
        self._shown = current
        self._update(
            {"text/html": f"<div class='mf-static-fallback'>{current[0]}</div>", "text/plain": current[1]},
            self.display_id,
        )

    def close(self) -> None:
        """Stops the after-cell updates."""
        if self._hooked and self._shell is not None:
            try:
                self._shell.events.unregister("post_run_cell", self.after_cell)
            except ValueError:
                pass
            self._hooked = False


def _update_display(bundle: dict[str, str], display_id: str) -> None:
    from IPython.display import update_display

    update_display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]
