"""Symbol lookup in an ELF64 shared object's ``.symtab``.

Why: the quickjs-ng binding's interrupt handler (``js_interrupt_handler``) is a *static*
function, so it is not exported; its shared object ships unstripped, and the offset between
it and an exported function (read from the symbol table) gives its address in the loaded
library. Only little-endian ELF64 is understood; anything else answers ``None``.
"""

from __future__ import annotations

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
    with open(path, "rb") as file:
        data = file.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # ELFCLASS64, little endian
        return {}
    (section_offset,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(count)]
    wanted = {name.encode(): name for name in names}
    found: dict[str, int] = {}
    for section in sections:
        if section[1] not in (_SHT_SYMTAB, _SHT_DYNSYM):
            continue
        strings = sections[section[6]]
        strings_offset = strings[4]
        offset, size, symbol_size = section[4], section[5], section[9] or 24
        for index in range(size // symbol_size):
            name_offset, info, _other, _shndx, value, _size = struct.unpack_from(
                "<IBBHQQ", data, offset + index * symbol_size
            )
            if value == 0 or info & 0xF != _STT_FUNC:
                continue
            start = strings_offset + name_offset
            name = data[start : data.index(b"\0", start)]
            if name in wanted:
                found[wanted[name]] = value
    return found
