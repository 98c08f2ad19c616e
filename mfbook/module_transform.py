"""Rewrites one ES module into a factory the kernel's module loader runs (tree-sitter based).

An ES module's imports and exports become calls on the loader's `require` and assignments to its
`exports` object; dynamic `import()` and `import.meta` are routed through the factory's arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .errors import ConfigError

__all__ = ["ModuleSyntaxError", "module_parser", "transform_module"]


class ModuleSyntaxError(ConfigError):
    """A worker module failed to parse; the message names the file, line and column."""


@lru_cache(maxsize=1)
def module_parser() -> Any:
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


def transform_module(specifier: str, file_label: str, code: str, resolve: Callable[[str], str]) -> _Module:
    """Turns one ES module into a factory function expression."""
    source = code.encode("utf-8")
    tree = module_parser().parse(source)
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
