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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ConfigError

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


class ModuleSyntaxError(ConfigError):
    """A worker module failed to parse; the message names the file, line and column."""


@lru_cache(maxsize=1)
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_javascript

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_javascript.language()))


def _text(source: bytes, node: Any) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8")


def _string_value(source: bytes, node: Any) -> str:
    """Value of a string literal node (imports only use plain literals)."""
    value = json.loads(_text(source, node)) if _text(source, node).startswith('"') else None
    if value is None:
        raw = _text(source, node)[1:-1]
        value = json.loads('"' + raw.replace('"', '\\"') + '"')
    return str(value)


def _first_error(node: Any) -> Any | None:
    if node.type == "ERROR" or node.is_missing:
        return node
    if not node.has_error:
        return None
    for child in node.children:
        found = _first_error(child)
        if found is not None:
            return found
    return node


def _pattern_names(source: bytes, node: Any) -> Iterator[str]:
    """Identifiers bound by a declarator's name (identifier or destructuring pattern)."""
    if node.type in ("identifier", "shorthand_property_identifier_pattern"):
        yield _text(source, node)
        return
    if node.type == "pair_pattern":
        value = node.child_by_field_name("value")
        if value is not None:
            yield from _pattern_names(source, value)
        return
    if node.type == "assignment_pattern":
        left = node.child_by_field_name("left")
        if left is not None:
            yield from _pattern_names(source, left)
        return
    for child in node.named_children:
        if child.type in ("property_identifier", "number", "string", "computed_property_name"):
            continue
        yield from _pattern_names(source, child)


class _Rewriter:
    """Collects byte-range replacements on one module's source."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.edits: list[tuple[int, int, str]] = []

    def blank(self, start: int, end: int, replacement: str = "") -> None:
        """Replaces a range, keeping its newlines so line numbers stay put."""
        newlines = self.source[start:end].count(b"\n")
        self.edits.append((start, end, replacement + "\n" * newlines))

    def apply(self) -> str:
        out: list[bytes] = []
        position = 0
        for start, end, replacement in sorted(self.edits):
            out.append(self.source[position:start])
            out.append(replacement.encode("utf-8"))
            position = end
        out.append(self.source[position:])
        return b"".join(out).decode("utf-8")


@dataclass
class _Module:
    specifier: str
    factory: str  # JS function expression text (one line of prefix + body)
    imports: list[str]
    written: dict[str, str] = field(default_factory=dict)  # resolved -> specifier as written


def _transform(specifier: str, file_label: str, code: str, resolve: Callable[[str], str]) -> _Module:
    """Turns one ES module into a factory function expression."""
    source = code.encode("utf-8")
    tree = _parser().parse(source)
    error = _first_error(tree.root_node)
    if error is not None:
        row, column = error.start_point
        if error.is_missing:
            problem = f"expected {error.type!r}"
        else:
            snippet = _text(source, error).strip().splitlines()
            problem = f"unexpected {snippet[0][:40]!r}" if snippet else "unexpected end of input"
        # tree-sitter's error node often starts at the enclosing statement; QuickJS names the token.
        precise = _engine_syntax_error(code)
        if precise is not None:
            row, column, problem = precise
        raise ModuleSyntaxError(f"SyntaxError in {file_label}:{row + 1}:{column + 1}: {problem}", option="script")
    rewriter = _Rewriter(source)
    prefix: list[str] = []
    getters: list[tuple[str, str]] = []  # (exported name, JS expression)
    imports: list[str] = []
    counter = iter(range(1, 1_000_000))

    written: dict[str, str] = {}

    def require(spec: str) -> str:
        resolved = resolve(spec)
        written.setdefault(resolved, spec)
        imports.append(resolved)
        variable = f"__mf_m{next(counter)}"
        prefix.append(f"const {variable} = __mf_require({json.dumps(resolved)});")
        return variable

    for node in tree.root_node.children:
        if node.type == "import_statement":
            source_node = node.child_by_field_name("source")
            written_spec = _string_value(source, source_node)
            module_var = require(written_spec)
            for clause in node.named_children:
                if clause.type != "import_clause":
                    continue
                for part in clause.named_children:
                    if part.type == "identifier":
                        prefix.append(f"const {_text(source, part)} = {module_var}.default;")
                    elif part.type == "namespace_import":
                        name = part.named_children[-1]
                        prefix.append(f"const {_text(source, name)} = {module_var};")
                    elif part.type == "named_imports":
                        for spec in part.named_children:
                            if spec.type != "import_specifier":
                                continue
                            imported = spec.child_by_field_name("name")
                            alias = spec.child_by_field_name("alias") or imported
                            name = json.dumps(_import_name(source, imported))
                            # As ES modules do, a name the module does not export fails the load.
                            missing = json.dumps(
                                f"The requested module '{written_spec}' does not provide an export named "
                                f"'{_import_name(source, imported)}'"
                            )
                            prefix.append(
                                f"const {_text(source, alias)} = {name} in {module_var} ? {module_var}[{name}] : "
                                f"(() => {{ throw new SyntaxError({missing}); }})();"
                            )
            rewriter.blank(node.start_byte, node.end_byte)
        elif node.type == "export_statement":
            _rewrite_export(node, source, rewriter, getters, require, counter)
    # Dynamic imports of string literals join the bundle (they resolve at run time).
    for spec in _rewrite_nested(tree.root_node, source, rewriter):
        written.setdefault(resolve(spec), spec)
        imports.append(resolve(spec))

    getter_js = "".join(
        f"Object.defineProperty(__mf_exports, {json.dumps(name)}, {{enumerable: true, get: () => {expression}}});"
        for name, expression in getters
    )
    body = rewriter.apply()
    head = (
        'function (__mf_require, __mf_exports, __mf_dynamic_import, __mf_import_meta) {"use strict";'
        + getter_js
        + "".join(prefix)
    )
    return _Module(specifier, head + body + "\n}", imports, written)


_ENGINE_ERROR = re.compile(r"SyntaxError: (?P<message>[^\n]*)\n\s*at <input>:(?P<line>\d+):(?P<column>\d+)")
_NO_RUN = "throw 0;"  # parsed, never run: the module stops at its first statement


def _engine_syntax_error(code: str) -> tuple[int, int, str] | None:
    """(row, column, message), 0-based, of QuickJS's first syntax error in module ``code``."""
    import quickjs

    context = quickjs.Context()
    context.set_memory_limit(64 * 1024 * 1024)
    context.set_time_limit(2.0)
    try:
        context.module(_NO_RUN + code)
    except Exception as error:  # noqa: BLE001 - anything but a SyntaxError: no better position
        found = _ENGINE_ERROR.match(str(error))
        if found is None:
            return None
        row, column = int(found["line"]) - 1, int(found["column"]) - 1
        if row == 0:
            column -= len(_NO_RUN)
        return row, max(column, 0), found["message"][:80]
    return None


def _import_name(source: bytes, node: Any) -> str:
    return _string_value(source, node) if node.type == "string" else _text(source, node)


def _rewrite_export(
    node: Any,
    source: bytes,
    rewriter: _Rewriter,
    getters: list[tuple[str, str]],
    require: Callable[[str], str],
    counter: Iterator[int],
) -> None:
    declaration = node.child_by_field_name("declaration")
    value = node.child_by_field_name("value")
    source_node = node.child_by_field_name("source")
    is_default = any(child.type == "default" for child in node.children)
    if declaration is not None:
        keyword_end = declaration.start_byte
        if is_default:
            name_node = declaration.child_by_field_name("name")
            if name_node is not None:
                rewriter.blank(node.start_byte, keyword_end)
                getters.append(("default", _text(source, name_node)))
                return
            rewriter.blank(node.start_byte, keyword_end, "const __mf_default = ")
            getters.append(("default", "__mf_default"))
            return
        rewriter.blank(node.start_byte, keyword_end)
        if declaration.type in ("lexical_declaration", "variable_declaration"):
            for declarator in declaration.named_children:
                if declarator.type == "variable_declarator":
                    name_node = declarator.child_by_field_name("name")
                    for name in _pattern_names(source, name_node):
                        getters.append((name, name))
        else:
            name_node = declaration.child_by_field_name("name")
            if name_node is not None:
                name = _text(source, name_node)
                getters.append((name, name))
        return
    if is_default and value is not None:
        rewriter.blank(node.start_byte, value.start_byte, "const __mf_default = ")
        getters.append(("default", "__mf_default"))
        return
    module_var = require(_string_value(source, source_node)) if source_node is not None else None
    clause = next((child for child in node.named_children if child.type == "export_clause"), None)
    namespace = next((child for child in node.named_children if child.type == "namespace_export"), None)
    if clause is not None:
        for spec in clause.named_children:
            if spec.type != "export_specifier":
                continue
            local = spec.child_by_field_name("name")
            alias = spec.child_by_field_name("alias") or local
            exported = _import_name(source, alias)
            local_name = _import_name(source, local)
            if module_var is not None:
                getters.append((exported, f"{module_var}[{json.dumps(local_name)}]"))
            else:
                getters.append((exported, local_name))
    elif namespace is not None and module_var is not None:
        getters.append((_import_name(source, namespace.named_children[-1]), module_var))
    elif module_var is not None:
        # export * from "x": copy every name but default, resolved when first read.
        rewriter.blank(
            node.start_byte,
            node.end_byte,
            f"for (const __mf_k of Object.keys({module_var})) if (__mf_k !== 'default' && "
            f"!Object.prototype.hasOwnProperty.call(__mf_exports, __mf_k)) "
            f"Object.defineProperty(__mf_exports, __mf_k, {{enumerable: true, "
            f"get: () => {module_var}[__mf_k]}});",
        )
        return
    rewriter.blank(node.start_byte, node.end_byte)


def _rewrite_nested(root: Any, source: bytes, rewriter: _Rewriter) -> list[str]:
    """Rewrites ``import.meta`` and dynamic ``import(...)`` anywhere in the module.

    Dynamic imports resolve against the importing module, so the factory receives a
    resolver-bound ``__mf_dynamic_import``.

    Returns:
        The specifiers of dynamic imports written as string literals (to bundle them).
    """
    literals: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.parent is root and node.type == "import_statement":
            continue
        if node.type == "meta_property":
            rewriter.edits.append((node.start_byte, node.end_byte, "__mf_import_meta"))
            continue
        if node.type == "call_expression":
            function = node.child_by_field_name("function")
            if function is not None and function.type == "import":
                rewriter.edits.append((function.start_byte, function.end_byte, "__mf_dynamic_import"))
                arguments = node.child_by_field_name("arguments")
                first = arguments.named_children[0] if arguments is not None and arguments.named_children else None
                if first is not None and first.type == "string":
                    literals.append(_string_value(source, first))
        stack.extend(node.children)
    return literals


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
    tree = _parser().parse(code.encode("utf-8"))
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
            module = _transform(spec, spec, code, _resolver(spec, root_dir))
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
