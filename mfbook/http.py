"""Python-side HTTP values: what ``dispatch_fetch`` takes and returns.

Requests and responses cross into isolates as *wire* dicts: ``{method, url, headers, body}``
and ``{status, statusText, headers, body}`` with headers as ``[[name, value], ...]`` and the
body as a latin-1 string (one character per byte) or None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .websocket_client import WebSocketClient

__all__ = ["Headers", "Response", "request_wire"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Headers(MutableMapping[str, str]):
    """Case-insensitive headers; repeated names are kept and joined with ``", "`` on read.

    >>> h = Headers({"Content-Type": "text/plain"})
    >>> h["content-type"]
    'text/plain'
    """

    def __init__(self, items: HeadersInput = None) -> None:
        self._items: list[tuple[str, str]] = []
        if items is None:
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self._items.append((str(name).lower(), str(value)))

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` (e.g. several ``set-cookie`` headers)."""
        lowered = name.lower()
        return [value for key, value in self._items if key == lowered]

    def __setitem__(self, name: str, value: str) -> None:
        lowered = name.lower()
        self._items = [(key, item) for key, item in self._items if key != lowered]
        self._items.append((lowered, str(value)))

    def __delitem__(self, name: str) -> None:
        lowered = name.lower()
        if lowered not in self:
            raise KeyError(name)
        self._items = [(key, value) for key, value in self._items if key != lowered]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(key == name.lower() for key, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for key, _ in self._items:
            if key not in seen:
                seen.append(key)
        return iter(seen)

    def __len__(self) -> int:
        return len(set(key for key, _ in self._items))

    def pairs(self) -> list[tuple[str, str]]:
        """Raw ``(name, value)`` pairs in order."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self)!r})"


class Response:
    """A response from a worker or a Durable Object.

    Attributes:
        status: HTTP status code.
        status_text: Reason phrase (may be empty).
        headers: Case-insensitive :class:`Headers`.
        body: The body as bytes.
        websocket: After a WebSocket upgrade (status 101), the connected
            :class:`~mfbook.WebSocketClient`; otherwise None.
    """

    websocket: WebSocketClient | None = None

    def __init__(
        self, status: int = 200, *, body: bytes = b"", headers: HeadersInput = None, status_text: str = ""
    ) -> None:
        self.status = status
        self.status_text = status_text
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Response:
        body = wire.get("body")
        return cls(
            int(wire["status"]),
            status_text=str(wire.get("statusText", "")),
            headers=[(str(name), str(value)) for name, value in wire.get("headers", [])],
            body=body.encode("latin-1") if body else b"",
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "statusText": self.status_text,
            "headers": [list(pair) for pair in self.headers.pairs()],
            "body": self.body.decode("latin-1") if self.body else None,
        }

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes become U+FFFD, as in JS)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response [{self.status}]>"

    def _repr_html_(self) -> str | None:
        import html

        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.headers.pairs()
        )
        return (
            f"<div class='mf-response'><b>{self.status}</b> {html.escape(self.status_text)}"
            f"<table>{rows}</table><pre>{html.escape(self.text()[:10_000])}</pre></div>"
        )


def request_wire(
    url: str,
    *,
    method: str = "GET",
    headers: HeadersInput = None,
    body: bytes | str | None = None,
    cf: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Builds a request wire dict from Python arguments.

    ``cf`` becomes ``request.cf`` (see :mod:`mfbook.cf`; checked by the caller).

    Raises:
        TypeError: ``url`` is not absolute, or a GET/HEAD request has a body (as ``new Request``).
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    scheme, _, rest = str(url).partition(":")
    if not _SCHEME.fullmatch(scheme) or not rest:
        raise TypeError(f"Failed to parse URL from {url}")
    method = method.upper()
    if body is not None and method in ("GET", "HEAD"):
        raise TypeError("Request with a GET or HEAD method cannot have a body.")
    pairs = Headers(headers).pairs()
    return {
        "method": method,
        "url": url,
        "headers": [list(pair) for pair in pairs],
        "body": body.decode("latin-1") if body is not None else None,
        **({"cf": dict(cf)} if cf is not None else {}),
    }
