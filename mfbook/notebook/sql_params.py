"""``{name}`` parameters of ``%%do_sql``: notebook values bound safely, never pasted into SQL.

``SELECT * FROM t WHERE id = {user_id}`` becomes ``SELECT * FROM t WHERE id = ?`` with the
value of ``user_id`` from the notebook as its binding. Braces inside quoted strings,
quoted identifiers and comments are left alone; ``{{`` and ``}}`` stand for literal braces.
Names may be dotted (``{row.id}``) and are looked up in the notebook's namespace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["bind_parameters"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_QUOTES = {"'": "'", '"': '"', "`": "`", "[": "]"}


def _lookup(name: str, namespace: Mapping[str, Any]) -> Any:
    first, *rest = name.split(".")
    if first not in namespace:
        raise KeyError(f"{{{name}}}: no variable {first!r} in the notebook")
    value = namespace[first]
    for attribute in rest:
        try:
            value = getattr(value, attribute)
        except AttributeError:
            raise KeyError(f"{{{name}}}: {type(value).__name__} has no attribute {attribute!r}") from None
    return value


def bind_parameters(sql: str, namespace: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Replaces each ``{name}`` outside strings and comments with ``?``; returns the SQL and values.

    Raises:
        KeyError: A name is not defined in ``namespace``.
        ValueError: An unclosed ``{`` or a ``{...}`` that is not a (dotted) name.

    >>> bind_parameters("SELECT * FROM t WHERE a = {x} AND b = '{x}'", {"x": 5})
    ("SELECT * FROM t WHERE a = ? AND b = '{x}'", [5])
    """
    out: list[str] = []
    values: list[Any] = []
    index = 0
    length = len(sql)
    while index < length:
        char = sql[index]
        if char in _QUOTES:
            end = sql.find(_QUOTES[char], index + 1)
            end = length - 1 if end == -1 else end
            out.append(sql[index : end + 1])
            index = end + 1
        elif sql.startswith("--", index):
            end = sql.find("\n", index)
            end = length if end == -1 else end
            out.append(sql[index:end])
            index = end
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            end = length if end == -1 else end + 2
            out.append(sql[index:end])
            index = end
        elif sql.startswith("{{", index) or sql.startswith("}}", index):
            out.append(char)
            index += 2
        elif char == "{":
            end = sql.find("}", index + 1)
            if end == -1:
                raise ValueError(f"unclosed '{{' at offset {index}: write {{{{ for a literal brace")
            name = sql[index + 1 : end].strip()
            if not _NAME.fullmatch(name):
                raise ValueError(f"{{{name}}} is not a variable name: only {{name}} or {{name.attribute}} are bound")
            values.append(_lookup(name, namespace))
            out.append("?")
            index = end + 1
        else:
            out.append(char)
            index += 1
    return "".join(out), values
