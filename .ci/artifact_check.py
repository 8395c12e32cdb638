"""`make artifact`: build the deployment package with sam and run both handlers from it.

The handlers run from the built package in a separate ``python3.13 -I -S`` process (see
artifact_invoke.py), never from src/ or the dev venv, so a dependency missing from
src/layer/requirements.txt fails CI rather than production. This script, run by the dev
venv, only builds, serves the local stand-ins (moto and the DeepCall stand-in need dev
dependencies) and checks the answers. Steps, each timed:

1. sam build of template.yaml as deployed (arm64): each function's package holds our code only,
   the dependencies are one shared layer (DependenciesLayer), pruned of the AWS service models
   no function uses (prune_layer.py) as `make build` does. Every dependency must have a wheel
   for that architecture, and every compiled extension in the layer is checked to be built for
   it. Neither the packages nor the layer may hold the developer tooling (the masking-unset
   command, ops/, the local stand-ins) or tests: see package_contents.py.
2. sam build of a copy of the template whose Architectures is this machine's, since arm64
   extension modules (pydantic-core) cannot be imported on x86_64. template.yaml is not touched.
3. every module of that package imported, the layer's python/ folder on sys.path after it as
   Lambda's /opt/python; then a freshly signed webhook (events/webhook-http-api.json) and an SQS
   batch (events/sqs-batch.json) handed to their handlers against the local stand-ins: HTTP
   200, no record handed back, DeepCall reached each time. Then the same again as with the
   template's SnapStart parameter on (which changes no build: the architecture stays arm64),
   after the handler module's SnapStart hooks ran (before snapshot, after restore).

No Docker, no AWS account: sam build resolves wheels with the pinned pip of the sam tools
environment, which is put first on PATH so that its python3.13 is the one sam finds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cfnlint.decode.decode import decode_str
from package_contents import intruders  # this script's folder
from prune_layer import prune

from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import LocalStack, local_stack

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().with_name("artifact_invoke.py")
FUNCTIONS = {"webhook": "WebhookFunction", "queue": "QueueFunction"}
LAYER = "DependenciesLayer"
# Lambda's names for the architectures, by what platform.machine() says.
ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
# ELF e_machine values of the two Lambda architectures.
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}

timings: list[tuple[str, float]] = []


def say(message: str) -> None:
    print(message, flush=True)  # noqa: T201 - this script's output is the CI log


@contextmanager
def step(name: str) -> Iterator[None]:
    """Announce, time and record one step."""
    say(f"\n--- {name}")
    start = time.monotonic()
    yield
    timings.append((name, time.monotonic() - start))
    say(f"--- {name}: {timings[-1][1]:.1f} s")


class CheckFailed(Exception):
    """The package does not behave as the source tree does."""


def load_template() -> dict[str, Any]:
    # cfn-lint's loader: it understands the short-form intrinsics (!Ref, !Sub) that yaml rejects.
    template, problems = decode_str((ROOT / "template.yaml").read_text())
    if problems or template is None:
        raise CheckFailed(f"template.yaml does not load: {problems}")
    return dict(template)


def sam_build(sam: Path, template: Path, build_dir: Path) -> None:
    """``sam build`` without Docker, without AWS credentials and without telemetry."""
    # sam needs no AWS account to build; keep it that way by giving it no AWS settings at all.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["SAM_CLI_TELEMETRY"] = "0"
    env["PATH"] = os.pathsep.join([str(sam.parent.resolve()), env.get("PATH", "")])
    command = [str(sam), "build", "--parallel", "--template-file", str(template)]
    command += ["--base-dir", str(ROOT), "--build-dir", str(build_dir)]
    subprocess.run(command, cwd=ROOT, env=env, check=True)  # noqa: S603 - our own arguments
    saved = prune(layer_dir(build_dir))
    say(f"pruned {saved / 2**20:.1f} MiB of unused AWS service models from the layer")
    precompile(build_dir)


def layer_dir(build_dir: Path) -> Path:
    """The layer's python/ folder, which Lambda puts on sys.path as /opt/python."""
    return build_dir / LAYER / "python"


def precompile(build_dir: Path) -> None:
    """Compile the package as `make build` does: /var/task is read-only, so without .pyc files
    every cold start would compile everything it imports (about a second)."""
    command = [sys.executable, "-m", "compileall", "-q", "-j", "0"]
    command += ["--invalidation-mode", "unchecked-hash", str(build_dir)]
    subprocess.run(command, check=True)  # noqa: S603 - our own arguments


def uncompiled(function_dir: Path) -> list[str]:
    """Python files of the package with no bytecode for this Python version next to them."""
    tag = sys.implementation.cache_tag
    return [
        str(path.relative_to(function_dir))
        for path in function_dir.rglob("*.py")
        if not (path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").is_file()
    ]


def host_template(template: dict[str, Any], architecture: str, path: Path) -> None:
    """Write the template with every function's Architectures set to ``architecture``."""
    template["Globals"]["Function"]["Architectures"] = [architecture]
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if "Architectures" in resource.get("Properties", {}):
            resource["Properties"]["Architectures"] = [architecture]
        # The functions differ only by their checkov skips; without them sam sees one build
        # definition and builds the package once for both.
        resource.get("Metadata", {}).pop("checkov", None)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Metadata"]["BuildArchitecture"] = architecture
            resource["Properties"]["CompatibleArchitectures"] = [architecture]
    # JSON is valid template syntax and needs no YAML writer that knows the intrinsics.
    path.write_text(json.dumps(template, indent=1))


def extension_architectures(function_dir: Path) -> dict[str, str]:
    """The architecture of each compiled extension module in the package, by relative path."""
    found = {}
    for library in sorted(function_dir.rglob("*.so")):
        header = library.read_bytes()[:20]
        machine = int.from_bytes(header[18:20], "little") if header[:4] == b"\x7fELF" else -1
        found[str(library.relative_to(function_dir))] = ELF_MACHINES.get(machine, hex(machine))
    return found


def run_driver(python: Path, function_dir: Path, env: dict[str, str], *call: Path | str) -> Any:
    """Run artifact_invoke.py in a clean interpreter, the function's package first on sys.path,
    then the layer; its JSON report."""
    paths = os.pathsep.join([str(function_dir), str(layer_dir(function_dir.parent))])
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "report.json"
        command = [str(python), "-I", "-S", str(DRIVER), paths, str(out)]
        command += [str(part) for part in call]
        # An empty working directory: nothing of the repository is at hand.
        result = subprocess.run(command, env=env, cwd=scratch, timeout=120, check=False)  # noqa: S603
        if result.returncode != 0 or not out.exists():
            what = " ".join(str(part) for part in call) or "importing every module"
            raise CheckFailed(f"the packaged code failed (exit {result.returncode}): {what}")
        report: dict[str, Any] = json.loads(out.read_text())
    if report["foreign_modules"]:
        raise CheckFailed(f"modules loaded from outside the package: {report['foreign_modules']}")
    return report


def invoke_handlers(
    python: Path, build_dir: Path, stack: LocalStack, work: Path, *, snapstart: bool = False
) -> list[str]:
    """A freshly signed webhook and an SQS batch, each through its handler from the package,
    against the local stand-ins (after the SnapStart hooks with ``snapstart``); what went
    wrong."""
    # Only what the stand-ins need: no proxy, no PYTHON* variable, nothing of the dev machine.
    env = {**stack.env(), "POWERTOOLS_LOG_LEVEL": "ERROR"}
    problems = []
    for handler, name in (("webhook", "webhook-http-api.json"), ("queue", "sqs-batch.json")):
        event = json.loads((ROOT / "events" / name).read_text())
        if handler == "webhook":  # stored signatures go stale after five minutes
            event = sign_event(event, "generic")
        event_file = work / name
        event_file.write_text(json.dumps(event))
        before = len(stack.deepcall.unset_calls)
        function_dir = build_dir / FUNCTIONS[handler]
        mode = ["snapstart"] if snapstart else []
        response = run_driver(python, function_dir, env, handler, event_file, *mode)["response"]
        calls = len(stack.deepcall.unset_calls) - before
        say(f"{FUNCTIONS[handler]} on {name}: {json.dumps(response)}")
        say(f"  the DeepCall stand-in received {calls} unset request(s)")
        if handler == "webhook" and response.get("statusCode") != 200:
            problems.append(f"{name}: HTTP {response.get('statusCode')}, expected 200")
        if handler == "queue" and response.get("batchItemFailures"):
            problems.append(f"{name}: records handed back: {response['batchItemFailures']}")
        if not calls:
            problems.append(f"{name}: DeepCall received no unset request")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam", type=Path, required=True, help="the sam executable")
    parser.add_argument("--work-dir", type=Path, required=True, help="emptied, then built into")
    args = parser.parse_args()
    work: Path = args.work_dir.resolve()
    shutil.rmtree(work, ignore_errors=True)  # a stale build must not pass for a fresh one
    (work / "events").mkdir(parents=True)

    template = load_template()
    function_globals = template["Globals"]["Function"]
    deployed = function_globals["Architectures"][0]
    host = ARCHITECTURES[platform.machine().lower()]
    # The handlers run on the dev venv's base interpreter, which must be the template's runtime.
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if function_globals["Runtime"] != python.name:
        raise CheckFailed(f"runtime {function_globals['Runtime']} but this is {python.name}")

    with step(f"sam build of template.yaml ({deployed}, as deployed)"):
        sam_build(args.sam, ROOT / "template.yaml", work / "deploy")
        built = extension_architectures(layer_dir(work / "deploy"))
        wrong = {path: arch for path, arch in built.items() if arch != deployed}
        if wrong:
            raise CheckFailed(f"extension modules not built for {deployed}: {wrong}")
        say(f"{len(built)} compiled extension module(s), all {deployed}")
        missing = uncompiled(work / "deploy" / "WebhookFunction") + uncompiled(
            layer_dir(work / "deploy")
        )
        if missing:
            raise CheckFailed(f"{len(missing)} file(s) without bytecode, e.g. {missing[:3]}")
        say("every Python file of the package has its bytecode")
        for function in FUNCTIONS.values():
            found = intruders(work / "deploy" / function)
            if found:
                raise CheckFailed(f"{function}: tooling or tests in the package: {found}")
            bundled = sorted(p.name for p in (work / "deploy" / function).glob("*.dist-info"))
            if bundled:
                raise CheckFailed(f"{function}: dependencies in the package: {bundled}")
        found = intruders(layer_dir(work / "deploy"))
        if found:
            raise CheckFailed(f"{LAYER}: tooling or tests in the layer: {found}")
        say("no developer tooling and no tests in the packages and the layer")

    build_dir = work / "deploy"
    if host != deployed:
        with step(f"sam build of a copy of the template for this machine ({host})"):
            host_template(template, host, work / "template.json")
            build_dir = work / "host"
            sam_build(args.sam, work / "template.json", build_dir)

    with step("import every module of the package, in python -I -S"):
        imported = run_driver(python, build_dir / "WebhookFunction", {})["imported"]
        say(f"{len(imported)} modules imported from the package alone")

    with step("both handlers from the package, against the local stand-ins"):
        with local_stack() as stack:
            problems = invoke_handlers(python, build_dir, stack, work / "events")
        if problems:
            raise CheckFailed("; ".join(problems))

    # A fresh stack: the same events again would be answered by the idempotency records.
    with step("both handlers from the package after the SnapStart hooks (SnapStart=Enabled)"):
        with local_stack() as stack:
            problems = invoke_handlers(python, build_dir, stack, work / "events", snapstart=True)
        if problems:
            raise CheckFailed("; ".join(problems))

    say("\nartifact check passed; timings:")
    for name, seconds in timings:
        say(f"  {seconds:6.1f} s  {name}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (CheckFailed, subprocess.CalledProcessError) as failure:
        say(f"\nartifact check FAILED: {failure}")
        sys.exit(1)
