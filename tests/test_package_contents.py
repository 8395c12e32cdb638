"""The deployment package holds the function and nothing of the developer tooling.

``sam build`` copies each function's CodeUri folder, which holds our package alone: the
dependencies are installed from src/layer/requirements.txt into the shared layer, from PyPI, and
cannot contain our tooling. The copy below is that package. ``make artifact`` runs the same check
on what sam really builds, the layer included.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cfnlint.decode.decode import decode_str

# One worker runs every test that runs make or writes under .cache/ (make test runs in parallel).
pytestmark = pytest.mark.xdist_group("repo-files")

ROOT = Path(__file__).resolve().parents[1]


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "package_contents", ROOT / ".ci" / "package_contents.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def _template() -> dict[str, Any]:
    template, problems = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert not problems, problems
    assert template is not None
    return dict(template)


def code_uris() -> list[str]:
    return sorted(checker.code_uris(_template()))


def build_as_sam_would(code_uri: str, into: Path) -> Path:
    """The CodeUri folder copied as sam build copies it (bytecode caches left behind)."""
    package = into / "package"
    shutil.copytree(ROOT / code_uri, package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


@pytest.fixture
def package(tmp_path: Path) -> Path:
    [code_uri] = code_uris()
    return build_as_sam_would(code_uri, tmp_path)


def test_every_function_is_built_from_the_function_folder_alone() -> None:
    assert code_uris() == ["src/function/"]


@pytest.mark.parametrize("code_uri", code_uris())
def test_the_built_package_holds_no_tooling_and_no_tests(code_uri: str, tmp_path: Path) -> None:
    package = build_as_sam_would(code_uri, tmp_path)

    assert checker.intruders(package) == []
    assert (package / "masking_unset" / "handlers" / "webhook.py").is_file()
    assert not (package / "requirements.txt").exists()  # dependencies go to the layer
    assert not (package / checker.TOOLING_PACKAGE).exists()


def test_the_dependencies_layer_is_built_from_the_requirements_alone() -> None:
    [layer] = [
        resource
        for resource in _template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    ]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    folder = ROOT / layer["Properties"]["ContentUri"]
    assert sorted(path.name for path in folder.iterdir()) == ["requirements.txt"]


def _pruner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prune_layer", ROOT / ".ci" / "prune_layer.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_layer_keeps_the_model_of_every_service_the_functions_call() -> None:
    import botocore

    known = {path.name for path in (Path(botocore.__file__).parent / "data").iterdir()}
    app = (ROOT / "src" / "function" / "masking_unset" / "app.py").read_text(encoding="utf-8")
    named = {
        node.value
        for node in ast.walk(ast.parse(app))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }

    assert named & known >= {"secretsmanager", "dynamodb", "sqs"}
    assert named & known <= _pruner().SERVICES


def test_pruning_keeps_the_services_used_and_drops_the_others(tmp_path: Path) -> None:
    for models in ("botocore/data", "boto3/data"):
        for service in ("sqs", "dynamodb", "s3", "ec2"):
            (tmp_path / models / service).mkdir(parents=True)
            (tmp_path / models / service / "service-2.json.gz").write_bytes(b"x" * 10)
    (tmp_path / "botocore/data/endpoints.json").write_text("{}")

    assert _pruner().prune(tmp_path) == 40

    assert sorted(p.name for p in (tmp_path / "botocore/data").iterdir()) == [
        "dynamodb",
        "endpoints.json",
        "sqs",
    ]
    assert sorted(p.name for p in (tmp_path / "boto3/data").iterdir()) == ["dynamodb", "sqs"]


def test_pruning_drops_type_stubs_and_the_packages_own_tests(tmp_path: Path) -> None:
    for models in ("botocore/data", "boto3/data"):
        (tmp_path / models / "sqs").mkdir(parents=True)
    files = {
        "certifi/tests/test_certify.py": 3,  # a package's own test folder: dropped
        "certifi/core.py": 5,
        "wrapt-stubs/__init__.pyi": 7,  # a stubs-only package: dropped
        "pydantic_core/__init__.pyi": 11,  # a stub beside its module: dropped
        "pydantic_core/__init__.py": 13,
        "requests/testing.py": 17,  # a module that only sounds like a test: kept
        "attr/test/helpers.py": 19,  # "test" as well as "tests": dropped
    }
    for name, size in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)

    assert _pruner().prune(tmp_path) == 3 + 7 + 11 + 19

    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["certifi/core.py", "pydantic_core/__init__.py", "requests/testing.py"]


def test_the_tooling_module_names_are_known() -> None:
    names = checker.tooling_module_names()
    for module in ("cli.py", "deepcall_standin.py", "aws_endpoint.py", "stack.py", "serve.py"):
        assert module in names
    assert "errors.py" not in names  # also a runtime module: models/errors.py


# The check must be able to fail: each of these, put into a clean package, is found.
PLANTED = {
    "the tooling package": ("masking_unset_tools/cli.py", "", "not part of"),
    "a stand-in inside the runtime package": (
        "masking_unset/local/deepcall_standin.py",
        "",
        "in a local/ folder",
    ),
    "an ops module": ("masking_unset/ops/serve.py", "", "in a ops/ folder"),
    "a command-line module": ("masking_unset/cli.py", "", "a module of the developer tooling"),
    "a renamed stand-in": ("masking_unset/clients/stack.py", "", "developer tooling"),
    "the tests": ("tests/test_x.py", "", "not part of"),
    "a top-level module": ("helpers.py", "", "not part of"),
    "an import of the tooling": (
        "masking_unset/clients/extra.py",
        "from masking_unset_tools.local.stack import LocalStack\n",
        "imports masking_unset_tools.local.stack",
    ),
    "an import of moto": ("masking_unset/clients/fake.py", "import moto.server\n", "imports moto"),
}


@pytest.mark.parametrize(("path", "text", "reason"), PLANTED.values(), ids=PLANTED.keys())
def test_tooling_put_into_the_package_is_found(
    package: Path, path: str, text: str, reason: str
) -> None:
    planted = package / path
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(text)

    found = checker.intruders(package)

    assert found
    assert all(line.startswith(f"{path}: ") for line in found)
    assert any(reason in line for line in found)


def test_installed_dependencies_are_not_counted_as_our_code(package: Path) -> None:
    # What requirements.txt installs may have tests/ folders of its own: not ours to judge.
    dependency = package / "somelib"
    (dependency / "tests").mkdir(parents=True)
    (dependency / "__init__.py").write_text("")
    (dependency / "tests" / "test_lib.py").write_text("import moto\n")
    record = package / "somelib-1.0.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text("somelib/__init__.py,,\nsomelib/tests/test_lib.py,,\n")

    assert checker.intruders(package) == []
    (dependency / "cli.py").write_text("")  # not in the RECORD: copied in, not installed
    assert checker.intruders(package) == [
        "somelib/cli.py: not part of the masking_unset package",
        "somelib/cli.py: a module of the developer tooling or the tests",
    ]
