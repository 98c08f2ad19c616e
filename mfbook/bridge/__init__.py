"""The JS/Python bridge: who may interrupt an isolate, and how JS calls the host.

- :mod:`.interrupt` owns each QuickJS runtime's interrupt handler (CPU deadline, Ctrl-C).
- :mod:`.elf` finds the binding's own handler in its shared object.
- :mod:`.host_entry` is the one synchronous JS → Python entry of an isolate.
- :mod:`.signals` turns Ctrl-C into an interrupt of the JavaScript running on the main thread.

See docs/ARCHITECTURE.md §1 for the contract.
"""
