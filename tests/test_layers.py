"""The packages form layers that only point down (docs/ARCHITECTURE.md).

Reads every import of the application packages (module level and inside functions alike, since a
function-level import is still a dependency) and fails on an import that points up or sideways
between packages of one layer, and on any cycle between packages.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lower number = lower layer. A package may import packages of strictly lower layers only.
LAYERS: dict[str, float] = {
    "core": 0,
    "crm": 1,
    "faq": 2,
    "outbound": 2,
    "care": 2,
    # insights sits in the middle layer too, just above faq: it clusters with faq's text features and
    # sentence vectors and resolves topics through faq.service; faq never imports it (no cycle).
    "insights": 2.5,
    "actions": 3,
    "gateway": 3,
    "care_scheduler": 3,
    "bankcare": 4,
}
# rasa_ext runs inside the Rasa process (Python 3.10): standard library, Rasa and core.masking only.
RASA_EXT_MAY_IMPORT = {"core.masking"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def _package_edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            for module in _imports(path):
                top = module.split(".")[0]
                if top in LAYERS and top != package:
                    edges[(package, top)].append(f"{path.relative_to(ROOT)} imports {module}")
    return edges


def test_every_application_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    unplaced = packages - set(LAYERS) - {"tests", "bench", "rasa_ext", "devstack", "scripts", "migrations"}
    assert not unplaced, f"give these packages a layer in LAYERS and docs/ARCHITECTURE.md: {sorted(unplaced)}"


def test_imports_only_point_down() -> None:
    wrong = [
        where
        for (src, dst), wheres in _package_edges().items()
        if LAYERS[dst] >= LAYERS[src]
        for where in wheres
    ]
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(sorted(wrong))


def test_no_cycles_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst in _package_edges():
        graph[src].add(dst)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(p for p in list(graph) if reaches(p, p, {p}))
    assert not cycles, f"packages on an import cycle: {cycles}"


def test_rasa_extensions_stay_within_what_the_rasa_venv_has() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "rasa_ext").rglob("*.py")
        for module in _imports(path)
        if module.split(".")[0] in LAYERS and module not in RASA_EXT_MAY_IMPORT
    ]
    assert not wrong, "\n".join(wrong)


def test_application_code_never_imports_tests_or_benchmarks() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for package in [*LAYERS, "bench", "devstack"]
        for path in (ROOT / package).rglob("*.py")
        for module in _imports(path)
        if module.split(".")[0] == "tests" or (package != "bench" and module.split(".")[0] == "bench")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_itself_sees_an_upward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from bankcare.cli import main\n\ndef f():\n    import gateway.app\n", encoding="utf-8")
    assert _imports(probe) == ["bankcare.cli", "gateway.app"]
