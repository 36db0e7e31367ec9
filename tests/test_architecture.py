"""The shape of harness/ as docs/architecture.md describes it: layers that import only downwards
(import-linter, contract in pyproject.toml), no import cycle between any two modules, no module over
400 lines, the simulator laid out like the drivers, and harness/steps holding only step kinds."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import harness
from harness.stepkit.kind import StepKind
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "harness"
MAX_LINES = 400


def import_cycles(package: str) -> list[list[str]]:
    """Every set of modules that import each other, directly or not (Tarjan's strongly connected
    components of the module import graph; imports under TYPE_CHECKING do not count)."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v)):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return cycles


def test_the_layers_contract_is_kept() -> None:
    # In a process of its own: import-linter configures logging on import of its CLI (dictConfig), which
    # would disable the harness's loggers for every test that runs after this one in the same process.
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "pyproject.toml")], check=False,
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, "a module imports from a layer above its own:\n" + done.stdout + done.stderr


def test_no_import_cycle_anywhere_in_harness() -> None:
    assert import_cycles("harness") == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "cyclic_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclic_pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclic_pkg import c  # an inner import is still an import\n")
    (pkg / "c.py").write_text("import cyclic_pkg.a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import cyclic_pkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclic_pkg") == [["cyclic_pkg.a", "cyclic_pkg.b", "cyclic_pkg.c"]]


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in HARNESS.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def _subpackages(path: Path) -> set[str]:
    return {p.name for p in path.iterdir() if (p / "__init__.py").is_file()}


def test_the_simulator_mirrors_the_drivers() -> None:
    """A newcomer who knows where a driver is finds its simulator at the same place under harness/sim."""
    drivers = _subpackages(HARNESS / "drivers")
    assert drivers and drivers <= _subpackages(HARNESS / "sim")


def test_steps_holds_only_step_kinds_and_all_are_registered() -> None:
    """Every module of harness/steps defines one StepKind, and the registry has each of them."""
    kinds_by_module = {}
    for info in pkgutil.iter_modules([str(HARNESS / "steps")]):
        module = importlib.import_module(f"harness.steps.{info.name}")
        kinds_by_module[info.name] = [v for v in vars(module).values()
                                      if isinstance(v, type) and issubclass(v, StepKind) and v is not StepKind
                                      and v.__module__ == module.__name__]
    assert {m: len(k) for m, k in kinds_by_module.items()} == {m: 1 for m in kinds_by_module}
    registered = {type(k) for k in STEP_KINDS}
    assert {k[0] for k in kinds_by_module.values()} == registered
    assert {k.name for k in STEP_KINDS} == set(kinds_by_module)  # one module per kind, named after it


def test_every_harness_module_imports() -> None:
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        if ".migrations" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
