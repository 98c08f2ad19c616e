"""Whole-database images (bytes of a SQLite file) for bookmarks, on every supported Python.

Python 3.11 has ``Connection.serialize``/``deserialize``; on 3.10 the image goes through a
temporary file with the online backup API.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from typing import Any

__all__ = ["load_image", "take_image"]


def take_image(connection: sqlite3.Connection) -> bytes:
    """The database's current content as the bytes of a SQLite file."""
    serialize: Any = getattr(connection, "serialize", None)
    if serialize is not None:
        return bytes(serialize())
    handle, name = tempfile.mkstemp(suffix=".sqlite3")
    os.close(handle)
    try:
        target = sqlite3.connect(name)
        try:
            connection.backup(target)
        finally:
            target.close()
        with open(name, "rb") as file:
            return file.read()
    finally:
        os.unlink(name)


def load_image(image: bytes, target: sqlite3.Connection) -> None:
    """Replaces ``target``'s content with an image from :func:`take_image` (one transaction)."""
    source = sqlite3.connect(":memory:")
    try:
        deserialize: Any = getattr(source, "deserialize", None)
        if deserialize is not None:
            deserialize(image)
            source.backup(target)
            return
    finally:
        source.close()
    handle, name = tempfile.mkstemp(suffix=".sqlite3")
    try:
        os.write(handle, image)
        os.close(handle)
        source = sqlite3.connect(name)
        try:
            source.backup(target)
        finally:
            source.close()
    finally:
        os.unlink(name)
