"""``request.cf``: the Cloudflare properties of an incoming request.

On Cloudflare, every request that reaches a worker from the internet carries ``request.cf``:
where the client is (country, city, coordinates, timezone), which data centre (``colo``)
received it, and its TLS and HTTP details. Locally there is no edge, so mfbook gives every
request from Python (``dispatch_fetch``) and every request through ``mfbook serve`` the same
documented default, :data:`DEFAULT_CF` — the values Miniflare and wrangler use when they
cannot download the real object: a client in Austin, Texas reaching the DFW data centre over
HTTP/1.1 and TLS 1.3.

Pass ``cf={...}`` to ``dispatch_fetch`` (or ``--cf FILE`` to ``mfbook serve``) to see other
values: the mapping given replaces the default as a whole (merge it yourself with
``{**DEFAULT_CF, "country": "DE"}``). Requests a worker builds itself (``new Request``, stub
fetches) carry only the ``cf`` they were given, as in the runtime.

>>> DEFAULT_CF["colo"], DEFAULT_CF["country"]
('DFW', 'US')
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["DEFAULT_CF", "load_cf_file", "request_cf"]

#: The default ``request.cf`` (Miniflare's and wrangler's fallback when ``cf.json`` is not fetched).
DEFAULT_CF: Mapping[str, Any] = {
    "asn": 395747,
    "colo": "DFW",
    "city": "Austin",
    "region": "Texas",
    "regionCode": "TX",
    "metroCode": "635",
    "postalCode": "78701",
    "country": "US",
    "continent": "NA",
    "timezone": "America/Chicago",
    "latitude": "30.27130",
    "longitude": "-97.74260",
    "clientTcpRtt": 0,
    "httpProtocol": "HTTP/1.1",
    "requestPriority": "weight=192;exclusive=0",
    "tlsCipher": "AEAD-AES128-GCM-SHA256",
    "tlsVersion": "TLSv1.3",
    "tlsClientAuth": {
        "certIssuerDNLegacy": "",
        "certIssuerDN": "",
        "certPresented": "0",
        "certSubjectDNLegacy": "",
        "certSubjectDN": "",
        "certNotBefore": "",
        "certNotAfter": "",
        "certSerial": "",
        "certFingerprintSHA1": "",
        "certVerified": "NONE",
    },
}


_DEFAULT_COPY: dict[str, Any] = copy.deepcopy(dict(DEFAULT_CF))


def request_cf(cf: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``cf`` object a request from Python carries: ``cf`` checked, or the default.

    The result is only serialised into a request, never changed (the default is shared).

    Raises:
        TypeError: ``cf`` is not a mapping with string keys, or holds a value JSON cannot carry
            (``request.cf`` is a plain JSON object in the runtime).
    """
    if cf is None:
        return _DEFAULT_COPY
    if not isinstance(cf, Mapping) or not all(isinstance(key, str) for key in cf):
        raise TypeError(f"cf must be a mapping with string keys, got {type(cf).__name__}")
    try:
        return json.loads(json.dumps(dict(cf), allow_nan=False))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as error:
        raise TypeError(f"cf must hold JSON values only: {error}") from None


def load_cf_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a ``cf`` object from a JSON file (``mfbook serve --cf FILE``).

    Raises:
        ConfigError: the file cannot be read or is not a JSON object.
    """
    try:
        with open(path, encoding="utf-8") as file:
            value = json.load(file)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cf: cannot read {os.fspath(path)!r}: {error}", option="cf") from None
    if not isinstance(value, dict):
        raise ConfigError(f"cf: {os.fspath(path)!r} must hold a JSON object", option="cf")
    return value
