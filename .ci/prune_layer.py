"""Leave out of the built dependencies layer what the functions never load.

botocore and boto3 ship the API models of every AWS service (22 MB of botocore/data); the
functions create clients for SERVICES only (app.py), so the other models are removed. Type
stubs (``*.pyi``, ``*-stubs/``) are for type checkers, and the test folders some packages ship
at their top (``certifi/tests``) are for their own CI: neither is ever imported at run time. Run by
`make build` and .ci/artifact_check.py after ``sam build`` and before compiling, so the package
that is checked and run is the one deployed. Standard library only: `make build` runs it with
the system Python. tests/test_package_contents.py checks SERVICES against app.py.

Usage: python prune_layer.py LAYER_PYTHON_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# The services app.py creates clients for, and STS (credentials of an assumed role).
SERVICES = frozenset({"secretsmanager", "dynamodb", "sqs", "sts"})
MODEL_DIRS = ("botocore/data", "boto3/data")


def _remove(path: Path) -> int:
    if path.is_dir():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        shutil.rmtree(path)
        return size
    size = path.stat().st_size
    path.unlink()
    return size


def prune(python_dir: Path) -> int:
    """Remove the service models no function uses, type stubs and the packages' own tests; the
    bytes removed."""
    removed = 0
    for models in MODEL_DIRS:
        folder = python_dir / models
        if not folder.is_dir():
            raise SystemExit(f"{folder} not found: is {python_dir} the layer's python/ folder?")
        for service in folder.iterdir():
            if service.is_dir() and service.name not in SERVICES:
                removed += sum(f.stat().st_size for f in service.rglob("*") if f.is_file())
                shutil.rmtree(service)
    for top in sorted(python_dir.iterdir()):
        if top.is_dir() and top.name.endswith("-stubs"):
            removed += _remove(top)
        elif top.is_dir():
            own_tests = (top / name for name in ("tests", "test"))
            removed += sum(_remove(folder) for folder in own_tests if folder.is_dir())
    removed += sum(_remove(stub) for stub in sorted(python_dir.rglob("*.pyi")))
    return removed


if __name__ == "__main__":
    saved = prune(Path(sys.argv[1]))
    print(f"pruned {saved / 2**20:.1f} MiB of unused AWS service models, stubs and tests")  # noqa: T201
