"""src/layer/requirements.txt is what ``sam build`` installs into the dependencies layer.

It must pin exactly the runtime dependencies of uv.lock, as ``make requirements`` writes them:
otherwise the deployed functions run other versions than the tests did, or miss a module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

# One worker runs every test that runs make or writes under .cache/ (make test runs in parallel).
pytestmark = pytest.mark.xdist_group("repo-files")

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "src" / "layer" / "requirements.txt"
# The Makefile's `requirements` target, writing to stdout instead of the file.
EXPORT = ("export", "--frozen", "--no-dev", "--no-emit-project")
FIX = "src/layer/requirements.txt is out of sync with uv.lock: run `make requirements`"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Each requirement with its hashes, by canonical name. Comments are left out, so neither the
    command line in the header nor the uv version's annotations matter."""
    found = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *hashes = (part.strip() for part in line.split("--hash="))
        name = re.split(r"[\s=<>!~;\[@]", requirement, maxsplit=1)[0]
        found[canonical(name)] = (requirement, frozenset(hashes))
    return found


def find_uv() -> str:
    # The Makefile's pinned uv first: it is the one that writes the file.
    bootstrap = ROOT / ".cache" / "bootstrap" / "bin" / "uv"
    found = str(bootstrap) if bootstrap.exists() else shutil.which("uv")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("uv not found: CI runs the tests through make, which installs it")
        pytest.skip("uv not found; `make test` installs it")
    return found


def test_requirements_match_the_lock() -> None:
    exported = subprocess.run(  # noqa: S603 - fixed arguments
        [find_uv(), *EXPORT], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    expected, actual = pins(exported), pins(REQUIREMENTS.read_text())
    differences = {
        "missing": sorted(expected.keys() - actual.keys()),
        "not in the lock": sorted(actual.keys() - expected.keys()),
        "other version or hashes": sorted(
            name for name in expected.keys() & actual.keys() if expected[name] != actual[name]
        ),
    }
    found = {what: names for what, names in differences.items() if names}
    assert not found, f"{FIX}: {found}"


def test_every_runtime_dependency_is_pinned_with_hashes() -> None:
    # Independent of uv: the direct dependencies are there, exact and hashed, and neither the
    # project itself (sam copies src/ as it is) nor a test tool is.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    actual = pins(REQUIREMENTS.read_text())
    for dependency in project["dependencies"]:
        name = canonical(re.split(r"[\s=<>!~;\[@]", dependency, maxsplit=1)[0])
        assert name in actual, f"{FIX} ({name} is missing)"
        requirement, hashes = actual[name]
        assert "==" in requirement, f"{name} is not pinned: {requirement}"
        assert hashes, f"{name} has no hash"
    for name in (canonical(project["name"]), "pytest", "moto"):
        assert name not in actual, f"{name} must not be in the deployment package"
