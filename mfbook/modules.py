"""ES module loading for isolates: parse, rewrite imports/exports, bundle with a line map.

The QuickJS binding has no module-loader hook (every module is named ``<input>`` and any
``import`` of another name fails), so mfbook turns each ES module into a factory function
with tree-sitter's JavaScript grammar: ``import``/``export`` statements become calls to the
kernel's module registry, everything else is left byte-for-byte in place so that line
numbers survive. All modules of a worker go into one bundle; :class:`LineMap` maps a bundle
line back to ``file:line`` for stack traces.

Semantics kept: module graphs with relative specifiers, cycles (exports are live getters),
``export *``, default exports, JSON / text / data modules, ``import.meta.url`` and dynamic
``import()``. Imported bindings are snapshots taken when the import runs (not live), which
only differs from ES semantics for cyclic graphs that reassign exports.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError
from .module_transform import (
    ModuleSyntaxError,
    module_parser,
    transform_module,
)

__all__ = [
    "BUNDLE_LINE_BASE",
    "DEFAULT_RULES",
    "Bundle",
    "LineMap",
    "ModuleRule",
    "ModuleSyntaxError",
    "build_bundle",
    "has_module_syntax",
    "parse_rules",
]

# User code starts at this line of its eval so that its frames can be told apart from the
# prelude's (both are called "<input>" by QuickJS).
BUNDLE_LINE_BASE = 100_000

CLOUDFLARE_MODULES = frozenset({"cloudflare:workers"})


@dataclass(frozen=True)
class ModuleRule:
    """How files with some extensions are imported: ``ESModule``, ``Text``, ``Data`` or ``JSON``."""

    type: str
    globs: tuple[str, ...]


DEFAULT_RULES = (
    ModuleRule("ESModule", ("**/*.js", "**/*.mjs")),
    ModuleRule("JSON", ("**/*.json",)),
    ModuleRule("Text", ("**/*.txt", "**/*.html", "**/*.sql")),
    ModuleRule("Data", ("**/*.bin", "**/*.wasm")),
)
RULE_TYPES = ("ESModule", "JSON", "Text", "Data")


def parse_rules(value: Sequence[Mapping[str, object]] | None) -> tuple[ModuleRule, ...]:
    """Turns the ``modules_rules`` option into rules: the user's first, then the defaults.

    Each entry is ``{"type": "Text" | "Data" | "JSON" | "ESModule", "include": [globs]}``
    (Miniflare's ``modulesRules``; wrangler's ``globs`` is accepted for ``include``).

    >>> parse_rules([{"type": "Text", "include": ["**/*.md"]}])[0]
    ModuleRule(type='Text', globs=('**/*.md',))

    Raises:
        ConfigError: An entry is not of that shape or names an unsupported type.
    """
    if value is None:
        return DEFAULT_RULES
    if not isinstance(value, (list, tuple)):
        raise ConfigError("modules_rules: expected a list of {type, include} dicts", option="modules_rules")
    rules = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise ConfigError(f"modules_rules: expected a dict, got {entry!r}", option="modules_rules")
        kind = entry.get("type")
        globs = entry.get("include", entry.get("globs"))
        if kind not in RULE_TYPES:
            raise ConfigError(
                f"modules_rules: type {kind!r} is not supported (use one of {', '.join(RULE_TYPES)})",
                option="modules_rules",
            )
        if isinstance(globs, str):
            globs = [globs]
        if not isinstance(globs, (list, tuple)) or not all(isinstance(glob, str) for glob in globs):
            raise ConfigError(f"modules_rules: {kind} rule needs include=[glob, ...]", option="modules_rules")
        rules.append(ModuleRule(str(kind), tuple(globs)))
    return (*rules, *DEFAULT_RULES)


@lru_cache(maxsize=256)
def _glob_regex(glob: str) -> re.Pattern[str]:
    """Compiles a module-rule glob: ``**/`` is any number of directories, ``*`` stays in one."""
    out = []
    index = 0
    while index < len(glob):
        if glob.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif glob.startswith("**", index):
            out.append(".*")
            index += 2
        elif glob[index] == "*":
            out.append("[^/]*")
            index += 1
        elif glob[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(glob[index]))
            index += 1
    return re.compile("".join(out))


@dataclass
class LineMap:
    """Maps lines of the bundle (1-based, as QuickJS reports them) to source files."""

    starts: list[tuple[int, str]] = field(default_factory=list)  # (first bundle line, file)

    def add(self, first_line: int, file: str) -> None:
        self.starts.append((first_line, file))

    def locate(self, line: int) -> tuple[str, int] | None:
        """Returns ``(file, line in file)`` or None when the line is not user code."""
        found: tuple[int, str] | None = None
        for start, file in self.starts:
            if start <= line:
                found = (start, file)
            else:
                break
        if found is None:
            return None
        return found[1], line - found[0] + 1

    def as_json(self) -> str:
        return json.dumps(self.starts)


@dataclass
class Bundle:
    """JavaScript text to eval in a fresh isolate, and where each file landed."""

    source: str
    main: str
    line_map: LineMap
    modules: bool


def _rule_for(path: str, rules: tuple[ModuleRule, ...]) -> str | None:
    """The module type of a root-relative path: the first rule with a matching glob wins."""
    name = path.lstrip("/")
    for rule in rules:
        for glob in rule.globs:
            if _glob_regex(glob.lstrip("./")).fullmatch(name):
                return rule.type
    return None


def has_module_syntax(code: str) -> bool:
    """Whether ``code`` has a top-level ``import`` or ``export`` (an ES module, not a service worker)."""
    tree = module_parser().parse(code.encode("utf-8"))
    return any(node.type in ("import_statement", "export_statement") for node in tree.root_node.children)


def build_bundle(
    *,
    script: str | None,
    script_path: Path | None,
    modules: bool,
    root: Path | None = None,
    rules: tuple[ModuleRule, ...] = DEFAULT_RULES,
    extra_modules: dict[str, str] | None = None,
) -> Bundle:
    """Builds the JavaScript bundle of one worker.

    Args:
        script: Inline source (module or service-worker script).
        script_path: File to load instead; relative imports resolve against it.
        modules: ES module syntax (True) or a service-worker script (False).
        root: Directory that imports may not leave (default: the script's directory).
        rules: How files are imported, by glob (see :func:`parse_rules`).
        extra_modules: Extra inline modules by specifier (tests, notebook cells).

    Raises:
        ConfigError: A file is missing, outside the root, or fails to parse (the message
            names the file, and for syntax errors the line and column).
    """
    if script is None and script_path is None:
        raise ConfigError("one of script= or script_path= is required", option="script")
    main_label = "worker.js"
    if script_path is not None:
        try:
            script = script_path.read_text("utf-8")
        except OSError as error:
            message = f"script_path {str(script_path)!r} cannot be read: {error.strerror}"
            raise ConfigError(message, option="script_path") from None
        main_label = script_path.name
    assert script is not None
    line_map = LineMap()
    pad = "\n" * (BUNDLE_LINE_BASE - 1)
    if not modules:
        line_map.add(BUNDLE_LINE_BASE, main_label)
        return Bundle(pad + script, main_label, line_map, modules=False)

    base_dir = script_path.parent.resolve() if script_path is not None else None
    chosen_root = root or base_dir
    root_dir = chosen_root.resolve() if chosen_root is not None else None
    if script_path is not None and root_dir is not None:
        main_path = script_path.resolve()
        if not main_path.is_relative_to(root_dir):
            raise ConfigError(
                f"script_path {str(script_path)!r} is outside modules_root {str(root_dir)!r}", option="modules_root"
            )
        main_spec = main_path.relative_to(root_dir).as_posix()
    else:
        main_spec = main_label
    sources: dict[str, str] = dict(extra_modules or {})
    sources[main_spec] = script
    importers: dict[str, str] = {}  # spec -> "<specifier as written>" in <the module that first imported it>

    def origin(spec: str) -> str:
        return importers.get(spec, f'"{spec}" in {main_spec}')

    def loader(spec: str, kind: str) -> str:
        if spec in sources:
            return sources[spec]
        if root_dir is None:
            raise ConfigError(
                f"Cannot resolve import {origin(spec)}: inline scripts cannot import files "
                "(pass script_path= to load a module graph from disk)",
                option="script",
            )
        path = (root_dir / spec).resolve()
        if not path.is_relative_to(root_dir):
            raise ConfigError(
                f"Import of {origin(spec)} resolves to {path}, outside the project root {root_dir} "
                "(imports outside the root are refused; set modules_root= to widen it)",
                option="modules_root",
            )
        try:
            return path.read_text("utf-8") if kind != "Data" else path.read_bytes().decode("latin-1")
        except FileNotFoundError:
            message = f"Cannot resolve import {origin(spec)}: file {path} not found"
            raise ConfigError(message, option="script_path") from None
        except (OSError, UnicodeDecodeError) as error:
            message = f"Cannot read module {spec} (import {origin(spec)}): {error}"
            raise ConfigError(message, option="script_path") from None

    pieces: list[str] = []
    line = BUNDLE_LINE_BASE
    seen: set[str] = set()
    queue = [main_spec]
    while queue:
        spec = queue.pop(0)
        if spec in seen or spec.startswith(("cloudflare:", "node:")):
            continue
        seen.add(spec)
        kind = "ESModule" if spec == main_spec else _rule_for(spec, rules)
        if kind is None:
            raise ConfigError(
                f"Cannot import {origin(spec)}: no module rule matches {spec} "
                '(add one with modules_rules=[{"type": "Text", "include": ["**/*.ext"]}])',
                option="modules_rules",
            )
        code = loader(spec, kind)
        if kind == "ESModule":
            module = transform_module(spec, spec, code, _resolver(spec, root_dir))
            for imported in module.imports:
                importers.setdefault(imported, f'"{module.written.get(imported, imported)}" in {spec}')
            queue.extend(module.imports)
            factory = module.factory
        else:
            factory = _data_module(spec, kind, code)
        chunk = f"__mfKernel.defineModule({json.dumps(spec)}, {factory});\n"
        line_map.add(line, spec)
        pieces.append(chunk)
        line += chunk.count("\n")
    return Bundle(pad + "".join(pieces), main_spec, line_map, modules=True)


def _resolver(referrer: str, root_dir: Path | None) -> Callable[[str], str]:
    def resolve(spec: str) -> str:
        if spec in CLOUDFLARE_MODULES or spec.startswith(("node:", "cloudflare:")):
            return spec
        if spec.startswith(("./", "../", "/")):
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(referrer), spec)).lstrip("/")
            if joined.startswith("../") or joined == "..":
                raise ConfigError(
                    f'Import of "{spec}" in {referrer} resolves outside the project root'
                    + (f" {root_dir}" if root_dir else "")
                    + " (imports outside the root are refused; set modules_root= to widen it)",
                    option="modules_root",
                )
            return joined
        raise ConfigError(
            f'Cannot resolve import "{spec}" in {referrer}: bare specifiers (npm packages) need a bundler; '
            'mfbook loads relative files ("./lib.js") and "cloudflare:workers"',
            option="script_path",
        )

    return resolve


def _data_module(spec: str, kind: str, code: str) -> str:
    if kind == "JSON":
        try:
            json.loads(code)
        except json.JSONDecodeError as error:
            raise ConfigError(f"JSON module {spec} is invalid: {error}", option="script_path") from None
        value = code.strip() or "null"
        return f"function (r, e) {{ e.default = ({value}); }}"
    if kind == "Text":
        return f"function (r, e) {{ e.default = {json.dumps(code)}; }}"
    # Data: bytes as a latin-1 string -> ArrayBuffer
    return (
        "function (r, e) { const s = " + json.dumps(code) + "; const b = new Uint8Array(s.length);"
        " for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i); e.default = b.buffer; }"
    )
