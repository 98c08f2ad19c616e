"""The notebook layer: ``%load_ext mfbook``, ``%%worker`` and the ``%do_*`` magics.

Modules: :mod:`.cells` (worker cells and the options they add up to), :mod:`.magics` (the
IPython magics), :mod:`.translate` (engine errors -> ``UsageError``), :mod:`.views` (static
tables for terminals) and :mod:`.state` (``mfbook.current()``). Only ``.magics`` and
``.translate`` import IPython, and nothing here is imported by the engine.
"""
