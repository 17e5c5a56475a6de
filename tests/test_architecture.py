"""Imports point one way: service -> models, classifier; models and classifier import nothing of ours."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"models", "classifier", "service"}
THIRD_PARTY = {
    "models": {"sqlmodel", "pydantic"},
    "classifier": {"numpy", "scipy", "sklearn", "skops"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ["models", "classifier"])
def test_inner_packages_import_only_themselves_the_standard_library_and_their_tools(package):
    allowed = {package} | THIRD_PARTY[package] | set(sys.stdlib_module_names)
    for path in sorted((ROOT / package).rglob("*.py")):
        unexpected = imported_packages(path) - allowed
        assert not unexpected, f"{path.relative_to(ROOT)} imports {sorted(unexpected)}"


def test_nothing_imports_the_service_but_the_service_and_tests():
    for package in ("models", "classifier", "alembic"):
        for path in sorted((ROOT / package).rglob("*.py")):
            assert "service" not in imported_packages(path), path.relative_to(ROOT)
