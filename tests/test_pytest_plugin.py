"""The pytest plugin: configuration sources, isolation between tests, xdist, the example suite.

Each test runs an inner pytest session (``pytester``) over a small project that uses the
``miniflare`` fixture, and checks what the inner tests saw.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKER = (ROOT / "examples" / "worker.js").read_text(encoding="utf-8")
COUNTER = 'durable_objects={"COUNTER": "Counter"}'

ISOLATION_TESTS = """
from mfbook.testing import instance_state

def test_first_writes(miniflare):
    assert miniflare.dispatch_fetch("http://localhost/inc?name=a").text() == "1"
    miniflare.get_durable_object_namespace("COUNTER").storage("other").put("k", "v")
    miniflare.dispatch_fetch("http://localhost/remind?name=a&in=3600000")

def test_second_sees_none_of_it(miniflare):
    ns = miniflare.get_durable_object_namespace("COUNTER")
    assert ns.storage("a").list() == {}
    assert ns.storage("a").get_alarm() is None
    assert ns.storage("other").list() == {}
    assert instance_state(miniflare, ns.get_by_name("a")) is None  # re-constructed on next use
    assert miniflare.dispatch_fetch("http://localhost/get?name=a").json() == {"count": 0, "hits": 1}
    assert [event.kind for event in miniflare.trace][0] == "request.start"  # only this test's events
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "worker.js").write_text(WORKER, encoding="utf-8")
    return pytester


def test_a_write_in_one_test_is_not_visible_in_the_next(project: pytest.Pytester) -> None:
    project.makepyfile(
        f'import pytest\npytestmark = pytest.mark.miniflare(script_path="worker.js", modules=True, {COUNTER})\n'
        + ISOLATION_TESTS
    )
    project.runpytest().assert_outcomes(passed=2)


def test_a_persistence_directory_is_copied_so_the_original_never_changes(project: pytest.Pytester) -> None:
    from mfbook import Miniflare

    data = project.path / "data"
    with Miniflare(
        script=WORKER, modules=True, durable_objects={"COUNTER": "Counter"}, durable_objects_persist=str(data)
    ) as mf:
        mf.get_durable_object_namespace("COUNTER").storage("a").put("count", 10)
    before = sorted(str(path.relative_to(data)) for path in data.rglob("*"))
    project.makepyfile(
        f"""
        import pytest
        pytestmark = pytest.mark.miniflare(script_path="worker.js", modules=True, {COUNTER}, durable_objects_persist="data")

        def test_one(miniflare):
            assert miniflare.dispatch_fetch("http://localhost/inc?name=a").text() == "11"

        def test_two(miniflare):
            assert miniflare.dispatch_fetch("http://localhost/inc?name=a").text() == "11"
        """
    )
    project.runpytest().assert_outcomes(passed=2)
    with Miniflare(
        script=WORKER, modules=True, durable_objects={"COUNTER": "Counter"}, durable_objects_persist=str(data)
    ) as mf:
        assert mf.get_durable_object_namespace("COUNTER").storage("a").get("count") == 10
    assert sorted(str(path.relative_to(data)) for path in data.rglob("*")) == before


def test_a_worker_s_own_persistence_directory_is_copied_too(project: pytest.Pytester) -> None:
    from mfbook import Miniflare

    data = project.path / "data"
    options = {"script": WORKER, "modules": True, "durable_objects": {"COUNTER": "Counter"}}
    with Miniflare(workers=[{"name": "w", **options, "durable_objects_persist": str(data)}]) as mf:
        mf.get_durable_object_namespace("COUNTER").storage("a").put("count", 10)
    project.makepyfile(
        f"""
        import pytest
        pytestmark = pytest.mark.miniflare(workers=[dict(name="w", script_path="worker.js", modules=True, {COUNTER}, durable_objects_persist="data")])

        @pytest.mark.parametrize("round", [1, 2])
        def test_counts_from_the_copy(miniflare, round):
            assert miniflare.dispatch_fetch("http://localhost/inc?name=a").text() == "11"
        """
    )
    project.runpytest().assert_outcomes(passed=2)
    with Miniflare(workers=[{"name": "w", **options, "durable_objects_persist": str(data)}]) as mf:
        assert mf.get_durable_object_namespace("COUNTER").storage("a").get("count") == 10


def test_options_from_pyproject_resolve_paths_against_it(project: pytest.Pytester) -> None:
    (project.path / "src").mkdir()
    shutil.move(project.path / "worker.js", project.path / "src" / "worker.js")
    project.makepyprojecttoml(
        """
        [tool.mfbook]
        script_path = "src/worker.js"
        modules = true
        durable_objects = { COUNTER = "Counter" }
        bindings = { GREETING = "from pyproject" }
        """
    )
    # Not "tests": in-process runs share sys.modules with this suite's own "tests" package.
    tests = project.mkpydir("suite")
    (tests / "test_it.py").write_text(
        "def test_it(miniflare):\n"
        "    assert miniflare.dispatch_fetch('http://localhost/inc?name=x').text() == '1'\n"
        "    assert miniflare.durable_object_bindings() == [('COUNTER', 'worker')]\n",
        encoding="utf-8",
    )
    project.runpytest("suite").assert_outcomes(passed=1)


def test_options_from_a_wrangler_file(project: pytest.Pytester) -> None:
    (project.path / "wrangler.toml").write_text(
        'name = "counter"\nmain = "worker.js"\n\n[[durable_objects.bindings]]\nname = "COUNTER"\nclass_name = "Counter"\n',
        encoding="utf-8",
    )
    project.makepyfile(
        """
        def test_it(miniflare):
            assert miniflare.workers == ["counter"]
            assert miniflare.dispatch_fetch("http://localhost/inc?name=x").text() == "1"
        """
    )
    project.runpytest().assert_outcomes(passed=1)


def test_a_marker_wins_over_the_project_and_resolves_from_the_test_file(project: pytest.Pytester) -> None:
    project.makepyprojecttoml(
        '[tool.mfbook]\nscript = "export default { fetch: () => new Response(\\"project\\") }"\nmodules = true\n'
    )
    sub = project.mkpydir("sub")
    shutil.move(project.path / "worker.js", sub / "worker.js")
    (sub / "test_marker.py").write_text(
        "import pytest\n\n"
        f'@pytest.mark.miniflare(script_path="worker.js", modules=True, {COUNTER})\n'
        "def test_marker(miniflare):\n"
        "    assert miniflare.dispatch_fetch('http://localhost/inc?name=x').text() == '1'\n\n"
        "def test_project(miniflare):\n"
        "    assert miniflare.dispatch_fetch('http://localhost/').text() == 'project'\n",
        encoding="utf-8",
    )
    project.runpytest("sub").assert_outcomes(passed=2)


def test_seed_is_the_state_every_test_starts_from(project: pytest.Pytester) -> None:
    (project.path / "seed.jsonl").write_text(
        json.dumps(
            {
                "binding": "COUNTER",
                "id": "d79847c0a662c2675f16715a1969d550dd0fbfaf64d365486075e2f903ff62b7",
                "key": "count",
                "value": 41,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    project.makepyfile(
        f"""
        import pytest
        pytestmark = pytest.mark.miniflare(script_path="worker.js", modules=True, {COUNTER}, seed="seed.jsonl")

        @pytest.mark.parametrize("round", [1, 2, 3])
        def test_counts_from_the_seed(miniflare, round):
            assert miniflare.dispatch_fetch("http://localhost/inc?name=seeded").text() == "42"
        """
    )
    project.runpytest().assert_outcomes(passed=3)


def test_sql_tables_of_sqlite_backed_objects_are_isolated_and_seeded_too(project: pytest.Pytester) -> None:
    from mfbook import Miniflare

    sqlite_counter = 'durable_objects={"COUNTER": {"class_name": "Counter", "sqlite": True}}'
    with Miniflare(
        script=WORKER, modules=True, durable_objects={"COUNTER": {"class_name": "Counter", "sqlite": True}}
    ) as mf:
        mf.get_durable_object_namespace("COUNTER").storage("a").sql.exec("CREATE TABLE t (v); INSERT INTO t VALUES (1)")
        mf.export_storage(project.path / "seed.jsonl")
    project.makepyfile(
        f"""
        import pytest
        pytestmark = pytest.mark.miniflare(script_path="worker.js", modules=True, {sqlite_counter}, seed="seed.jsonl")

        @pytest.mark.parametrize("round", [1, 2, 3])
        def test_each_test_starts_from_the_seeded_table(miniflare, round):
            sql = miniflare.get_durable_object_namespace("COUNTER").storage("a").sql
            sql.exec("CREATE TABLE IF NOT EXISTS extra (v); INSERT INTO t VALUES (?)", round)
            assert sql.exec("SELECT count(*) AS n FROM t").one() == {{"n": 2}}
            assert sql.tables() == ["extra", "t"]
        """
    )
    project.runpytest().assert_outcomes(passed=3)


def test_without_options_the_fixture_says_where_to_put_them(project: pytest.Pytester) -> None:
    project.makepyfile("def test_it(miniflare):\n    pass\n")
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*The miniflare fixture has no options: add @pytest.mark.miniflare(*[tool.mfbook]*"])


def test_redis_gets_a_prefix_per_process_deleted_afterwards(project: pytest.Pytester, redis_url: str) -> None:
    import redis

    project.makepyfile(
        f"""
        import pytest
        pytestmark = pytest.mark.miniflare(script_path="worker.js", modules=True, {COUNTER}, durable_objects_persist={redis_url!r}, redis_prefix="plugin-test:")

        def test_one(miniflare):
            assert miniflare.dispatch_fetch("http://localhost/inc?name=r").text() == "1"

        def test_two(miniflare):
            assert miniflare.dispatch_fetch("http://localhost/inc?name=r").text() == "1"
        """
    )
    project.runpytest().assert_outcomes(passed=2)
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match="plugin-test:*")) == []
    finally:
        client.close()


def test_xdist_runs_one_emulator_per_worker_process(project: pytest.Pytester, tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    project.makepyfile(
        f"""
        import os
        import pytest
        pytestmark = pytest.mark.miniflare(script_path="worker.js", modules=True, {COUNTER})

        @pytest.mark.parametrize("n", range(8))
        def test_counter_is_fresh(miniflare, _mfbook_pool, n):
            assert miniflare.dispatch_fetch("http://localhost/inc?name=shared").text() == "1"
            with open(os.path.join({str(report)!r}, f"{{os.getpid()}}-{{n}}"), "w") as out:
                out.write(f"{{_mfbook_pool.started}} {{id(miniflare)}}")
        """
    )
    result = project.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=8)
    by_pid: dict[str, set[str]] = {}
    for entry in report.iterdir():
        by_pid.setdefault(entry.name.split("-")[0], set()).add(entry.read_text())
    assert len(by_pid) == 2  # two worker processes ran tests...
    for seen in by_pid.values():
        assert len(seen) == 1 and next(iter(seen)).startswith("1 ")  # ...each with one emulator


def test_the_example_suite_passes() -> None:
    suite = ROOT / "examples" / "pytest-suite"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=suite,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
