"""Multi-file ES module workers: the module graph, non-JS modules, errors and stack traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfbook import ConfigError, Miniflare
from mfbook.modules import ModuleRule, build_bundle, has_module_syntax, parse_rules

FIXTURE = Path(__file__).parent / "fixtures" / "multifile"
MD_RULES = [{"type": "Text", "include": ["**/*.md"]}]


def fixture_worker(**options: object) -> Miniflare:
    return Miniflare(
        script_path=FIXTURE / "src" / "index.js",
        modules=True,
        modules_root=FIXTURE,
        modules_rules=MD_RULES,
        **options,
    )


def test_three_file_graph_with_shared_json_text_and_data_modules() -> None:
    with fixture_worker() as mf:
        assert mf.dispatch_fetch("http://x/").json() == {
            "sum": 42,  # lib/math.js, with the numbers from data/config.json
            "text": "#3",  # index.js -> lib/math.js -> lib/format.js
            "greeting": "hello, mfbook",  # ../shared/greet.mjs, inside modules_root
            "notes": "# Notes",  # Text module through modules_rules
            "bytes": [0, 1, 255],  # Data module by extension: an ArrayBuffer
            "lazy": "loaded later",  # dynamic import() of a literal path
            "meta": "file:///src/index.js",
        }


def test_stack_traces_name_the_file_and_line_of_each_module() -> None:
    with fixture_worker() as mf:
        response = mf.dispatch_fetch("http://x/throw")
    assert response.status == 500
    lines = response.text().splitlines()
    assert lines[0] == "RangeError: negative input"
    assert lines[1] == "    at describe (src/lib/math.js:9:15)"
    assert lines[2].startswith("    at fetch (src/index.js:10:")


def test_bundle_line_map_locates_every_file() -> None:
    bundle = build_bundle(
        script=None, script_path=FIXTURE / "src" / "index.js", modules=True, root=FIXTURE, rules=parse_rules(MD_RULES)
    )
    files = [file for _, file in bundle.line_map.starts]
    assert files[0] == "src/index.js"
    assert set(files) == {
        "src/index.js",
        "src/lib/math.js",
        "shared/greet.mjs",
        "src/data/config.json",
        "src/data/notes.md",
        "src/data/bytes.bin",
        "src/lib/format.js",
        "src/lib/lazy.js",
    }
    start = dict((file, line) for line, file in bundle.line_map.starts)["src/lib/math.js"]
    assert bundle.line_map.locate(start + 8) == ("src/lib/math.js", 9)


def test_import_outside_the_default_root_is_refused() -> None:
    # Without modules_root the root is the main script's directory: ../shared is outside it.
    with pytest.raises(ConfigError) as caught:
        Miniflare(script_path=FIXTURE / "src" / "index.js", modules=True, modules_rules=MD_RULES)
    message = str(caught.value)
    assert message.startswith('Import of "../shared/greet.mjs" in index.js resolves outside the project root')
    assert str((FIXTURE / "src").resolve()) in message
    assert caught.value.option == "modules_root"


def test_escape_through_a_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.js"
    outside.write_text("export const secret = 1;\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "link.js").symlink_to(outside)
    (project / "index.js").write_text(
        'import { secret } from "./link.js";\nexport default { fetch: () => new Response(String(secret)) };\n'
    )
    with pytest.raises(
        ConfigError, match=r'Import of "./link.js" in index.js resolves to .*secret.js, outside the project root'
    ):
        Miniflare(script_path=project / "index.js", modules=True)


def test_missing_import_names_the_importing_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "index.js").write_text(
        'import { x } from "./lib/a.js";\nexport default { fetch: () => new Response(x) };\n'
    )
    (tmp_path / "lib" / "a.js").write_text('export { y as x } from "./missing.js";\n')
    with pytest.raises(ConfigError) as caught:
        Miniflare(script_path=tmp_path / "index.js", modules=True)
    assert str(caught.value) == (
        'Cannot resolve import "./missing.js" in lib/a.js: '
        f"file {(tmp_path / 'lib' / 'missing.js').resolve()} not found"
    )


def test_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text('import { f } from "./broken.js";\nexport default { fetch: () => f() };\n')
    (tmp_path / "broken.js").write_text('export function f() {\n  return new Response("ok";\n}\n')
    with pytest.raises(ConfigError) as caught:
        Miniflare(script_path=tmp_path / "index.js", modules=True)
    assert str(caught.value) == "SyntaxError in broken.js:2:27: Unexpected token ';'"


def test_bare_specifier_needs_a_bundler(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text('import _ from "lodash";\nexport default {};\n')
    with pytest.raises(ConfigError, match='Cannot resolve import "lodash" in index.js: bare specifiers'):
        Miniflare(script_path=tmp_path / "index.js", modules=True)


def test_file_without_a_rule_is_reported(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text('import doc from "./doc.md";\nexport default {};\n')
    (tmp_path / "doc.md").write_text("# doc\n")
    with pytest.raises(ConfigError, match='Cannot import "./doc.md" in index.js: no module rule matches doc.md'):
        Miniflare(script_path=tmp_path / "index.js", modules=True)


def test_invalid_json_module_is_reported(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text('import data from "./data.json";\nexport default {};\n')
    (tmp_path / "data.json").write_text("{nope}")
    with pytest.raises(ConfigError, match="JSON module data.json is invalid"):
        Miniflare(script_path=tmp_path / "index.js", modules=True)


def test_inline_module_cannot_import_files() -> None:
    with pytest.raises(
        ConfigError, match='Cannot resolve import "./lib.js" in worker.js: inline scripts cannot import files'
    ):
        Miniflare(script='import x from "./lib.js"; export default {};', modules=True)


def test_user_rules_come_before_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text(
        'import page from "./page.html";\nimport raw from "./raw.txt";\n'
        "export default { fetch: () => new Response(typeof page + ' ' + (raw instanceof ArrayBuffer)) };\n"
    )
    (tmp_path / "page.html").write_text("<p>")
    (tmp_path / "raw.txt").write_text("abc")
    with Miniflare(
        script_path=tmp_path / "index.js", modules=True, modules_rules=[{"type": "Data", "include": ["*.txt"]}]
    ) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "string true"


def test_parse_rules_rejects_unsupported_types() -> None:
    assert parse_rules([{"type": "Text", "include": ["**/*.md"]}])[0] == ModuleRule("Text", ("**/*.md",))
    with pytest.raises(ConfigError, match="type 'CompiledWasm' is not supported"):
        parse_rules([{"type": "CompiledWasm", "include": ["**/*.wasm"]}])


def test_module_syntax_detection() -> None:
    assert has_module_syntax("export default {}")
    assert has_module_syntax('import x from "./x.js";\naddEventListener("fetch", () => {});')
    assert not has_module_syntax('addEventListener("fetch", (e) => e.respondWith(new Response("")));')


def test_importing_a_name_the_module_does_not_export_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("export const a = 1; export default 2;")
    (tmp_path / "w.js").write_text(
        'import { a, b as c } from "./a.js";\nexport default { fetch: () => new Response(String(a) + c) };'
    )
    with pytest.raises(
        ConfigError, match="SyntaxError: The requested module './a.js' does not provide an export named 'b'"
    ):
        Miniflare(script_path=str(tmp_path / "w.js"), modules=True)
    (tmp_path / "w.js").write_text(
        'import two, { a as one } from "./a.js";\nexport default { fetch: () => new Response(String(one + two)) };'
    )
    with Miniflare(script_path=str(tmp_path / "w.js"), modules=True) as mf:
        assert mf.dispatch_fetch("http://x/").text() == "3"
