"""The rules the house keeps everywhere, held by reading its code: small modules, no
production ``assert``, no one-letter alias of a state enum, and a console whose modules
import each other in one direction only."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500
CONSOLE = ROOT / "src" / "metapaas" / "console" / "static"
JS_IMPORT = re.compile(r"""^\s*import\s[^'"]*?from\s+['"](\.{1,2}/[^'"]+)['"]""", re.MULTILINE)


def product_modules() -> Iterator[Path]:
    """Every Python module the product and its benchmarks ship, but migrations (a stream's
    revisions are history by design) and tests."""
    roots = [ROOT / "src", *sorted((ROOT / "plugins").glob("*/src")), ROOT / "benchmarks"]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "versions" not in path.parts and "tests" not in path.parts:
                yield path


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_no_module_is_over_500_lines() -> None:
    long = {
        _relative(path): count
        for path in product_modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by job: {long}"


def test_no_production_code_asserts() -> None:
    """``python -O`` drops asserts: a check the code needs raises an error that says what
    went wrong. The testing kit asserts as tests do."""
    kit = ROOT / "src" / "metapaas" / "testing"
    found = [
        f"{_relative(path)}:{node.lineno}"
        for path in product_modules()
        if kit not in path.parents and "benchmarks" not in path.parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


def test_no_state_enum_has_a_one_letter_alias() -> None:
    alias = re.compile(r"^[A-Z] = \w+\.\w+(State|Status)\b", re.MULTILINE)
    found = [
        _relative(path)
        for path in product_modules()
        if alias.search(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "name the enum where it is used"


def _console_imports() -> dict[Path, set[Path]]:
    graph: dict[Path, set[Path]] = {}
    for module in CONSOLE.rglob("*.js"):
        text = module.read_text(encoding="utf-8")
        graph[module] = {(module.parent / found).resolve() for found in JS_IMPORT.findall(text)}
    return graph


def _cycle(graph: dict[Path, set[Path]]) -> list[Path]:
    """One import cycle of ``graph`` (its modules in order), or [] when it has none."""
    done: set[Path] = set()

    def visit(module: Path, path: list[Path]) -> list[Path]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        for imported in sorted(graph.get(module, ())):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return []

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return []


def test_the_console_modules_import_in_one_direction() -> None:
    graph = _console_imports()
    assert len(graph) > 5, "the console's modules were not found"
    cycle = _cycle(graph)
    assert cycle == [], " -> ".join(str(m.relative_to(CONSOLE)) for m in cycle)


@pytest.mark.parametrize(
    ("graph", "cyclic"),
    [
        pytest.param({Path("a"): {Path("b")}, Path("b"): set()}, False, id="a line is no cycle"),
        pytest.param(
            {Path("a"): {Path("b")}, Path("b"): {Path("c")}, Path("c"): {Path("a")}},
            True,
            id="three modules in a ring are one",
        ),
        pytest.param(
            {Path("a"): {Path("b"), Path("c")}, Path("b"): {Path("c")}, Path("c"): set()},
            False,
            id="two ways to one module are no cycle",
        ),
    ],
)
def test_the_cycle_search_finds_rings_only(graph: dict[Path, set[Path]], cyclic: bool) -> None:
    assert bool(_cycle(graph)) is cyclic
