"""Symbol lookup in an ELF64 shared object's ``.symtab``.

Why: the quickjs-ng binding's interrupt handler (``js_interrupt_handler``) is a *static*
function, so it is not exported; its shared object ships unstripped, and the offset between
it and an exported function (read from the symbol table) gives its address in the loaded
library. Only little-endian ELF64 is understood; anything else answers ``None``.
"""

from __future__ import annotations

import mmap
import struct

__all__ = ["function_symbols"]

_SHT_SYMTAB = 2
_SHT_DYNSYM = 11
_STT_FUNC = 2


def function_symbols(path: str, names: set[str]) -> dict[str, int]:
    """Values (link-time addresses) of the function symbols ``names`` found in ``path``.

    Args:
        path: The shared object.
        names: The symbols wanted.

    Returns:
        The symbols found, by name; missing ones are absent (a stripped build finds none).
    """
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        # Mapped, not read: the library is 8 MB with its debug sections; the tables are small.
        return _function_symbols(mapped, names)


def _function_symbols(data: mmap.mmap, names: set[str]) -> dict[str, int]:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # ELFCLASS64, little endian
        return {}
    (section_offset,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(count)]
    found: dict[str, int] = {}
    for section in sections:
        if section[1] not in (_SHT_SYMTAB, _SHT_DYNSYM):
            continue
        strings_start = sections[section[6]][4]
        strings_end = strings_start + sections[section[6]][5]
        # Name offsets of the wanted symbols in this string table, then one C-speed pass
        # over the symbols (a Python loop over every symbol costs milliseconds at start-up).
        offsets: dict[int, str] = {}
        for name in names:
            needle = b"\0" + name.encode() + b"\0"
            at = data.find(needle, strings_start, strings_end)
            while at != -1:
                offsets[at + 1 - strings_start] = name
                at = data.find(needle, at + 1, strings_end)
        if not offsets:
            continue
        offset, size, symbol_size = section[4], section[5], section[9] or 24
        if symbol_size != 24:
            continue
        for name_offset, info, _other, _shndx, value, _size in struct.iter_unpack(
            "<IBBHQQ", data[offset : offset + size]
        ):
            if name_offset in offsets and value != 0 and info & 0xF == _STT_FUNC:
                found.setdefault(offsets[name_offset], value)
    return found
