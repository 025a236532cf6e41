"""docs/reliability.md has one row per fault test, and no row for a test that does not exist."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.faults.promise import documented_rows


def fault_tests() -> set[str]:
    """Every test of the fault suite, and any other test that keeps the promise (``Promise``) with a row."""
    names = set()
    for module in Path(__file__).parents[1].rglob("test_*.py"):
        if module.name == Path(__file__).name:
            continue
        tree = ast.parse(module.read_text())
        tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
        in_suite = module.parent == Path(__file__).parent
        names |= {n.name for n in tests if in_suite or "Promise(" in ast.unparse(n)}
    return names


def test_every_fault_test_has_one_row_and_every_row_a_test():
    assert fault_tests(), "the suite has no fault tests"
    assert set(documented_rows()) == fault_tests()
