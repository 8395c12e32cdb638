"""What a function's deployment package may hold: the function's own code and its dependencies,
never the developer tooling (the masking-unset command, ops/, the local stand-ins) or tests.

Used by artifact_check.py on what ``sam build`` made, and by tests/test_package_contents.py on
a copy of the template's CodeUri (what ``sam build`` copies before installing requirements.txt).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "src" / "tools"
TOOLING_PACKAGE = "masking_unset_tools"
RUNTIME_PACKAGES = frozenset({"masking_unset"})
# Folders and modules of the tooling and the test suite, whatever package they were put in.
FORBIDDEN_DIRS = frozenset({TOOLING_PACKAGE, "tests", "benchmarks", "local", "ops"})
FORBIDDEN_FILES = frozenset({"cli.py", "conftest.py"})
# Imports that only development code makes: their presence means tooling came along.
FORBIDDEN_IMPORTS = frozenset({TOOLING_PACKAGE, "tests", "benchmarks", "h11", "moto"})


def code_uris(template: dict[str, Any]) -> set[str]:
    """The CodeUri of every function (its own, else the Globals one)."""
    default = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    return {
        resource.get("Properties", {}).get("CodeUri", default)
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def dependency_files(package_dir: Path) -> set[Path]:
    """Files installed from requirements.txt, as their wheels' RECORDs list them."""
    owned: set[Path] = set()
    for record in package_dir.glob("*.dist-info/RECORD"):
        for line in record.read_text(encoding="utf-8").splitlines():
            name = line.rsplit(",", 2)[0]
            if name:
                owned.add((package_dir / name).resolve())
        owned.update(path.resolve() for path in record.parent.iterdir())
    return owned


def own_files(package_dir: Path) -> Iterator[Path]:
    """The package's files that no installed dependency brought, bytecode left out."""
    dependencies = dependency_files(package_dir)
    for path in sorted(package_dir.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.resolve() in dependencies:
            continue
        yield path.relative_to(package_dir)


def tooling_module_names() -> frozenset[str]:
    """File names of the tooling package's modules that the runtime package does not also use
    (``errors.py`` is in both, ``serve.py`` only in the tooling)."""
    runtime = {
        path.name
        for name in RUNTIME_PACKAGES
        for path in _modules(ROOT / "src" / "function" / name)
    }
    tooling = {path.name for path in _modules(TOOLS / TOOLING_PACKAGE)}
    return frozenset(tooling - runtime - {"__init__.py"})


def _modules(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def _imported(source: str) -> Iterator[str]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def intruders(package_dir: Path) -> list[str]:
    """Everything in the package that is tooling or tests, each with the reason; [] if clean."""
    found = []
    tooling_names = tooling_module_names()
    for path in own_files(package_dir):
        top = path.parts[0]
        if path.suffix == ".py" and (len(path.parts) == 1 or top not in RUNTIME_PACKAGES):
            found.append(f"{path}: not part of the {', '.join(sorted(RUNTIME_PACKAGES))} package")
        if dirs := FORBIDDEN_DIRS.intersection(path.parts[:-1]):
            found.append(f"{path}: in a {sorted(dirs)[0]}/ folder")
        if path.name in FORBIDDEN_FILES or path.name in tooling_names:
            found.append(f"{path}: a module of the developer tooling or the tests")
        if path.suffix == ".py":
            text = (package_dir / path).read_text(encoding="utf-8")
            for module in _imported(text):
                if module.split(".")[0] in FORBIDDEN_IMPORTS:
                    found.append(f"{path}: imports {module}")
    return found
