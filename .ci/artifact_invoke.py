"""Runs code from the package that sam built, for .ci/artifact_check.py.

Started as ``python3.13 -I -S artifact_invoke.py FUNCTION_DIR[:LAYER_DIR] OUT [HANDLER EVENT
[snapstart]]``. -I ignores the PYTHON* variables, the user site and this script's folder; -S
leaves out site-packages. So apart from the standard library, only FUNCTION_DIR and the layer's
python/ folder (what sam build made) can be imported, in that order, as on Lambda (/var/task,
then /opt/python).

With HANDLER and EVENT it calls ``masking_unset.handlers.HANDLER.lambda_handler`` on the event.
With ``snapstart`` too, a stand-in for the runtime's snapshot_restore_py is installed first, and
the hooks the handler module registered run (before snapshot, then after restore) before the
event is handed over, as in a container resumed from a snapshot.
Without them it imports every module of the package instead, so that a dependency used only on a
rare path is found missing here rather than in production. OUT receives a JSON report.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import runpy
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any

CONTEXT_MODULE = Path("masking_unset_tools", "local", "lambda_context.py")


def foreign_modules(roots: list[Path]) -> list[str]:
    """Loaded modules that come from neither the package nor the standard library: with -I -S
    there should be none, and any would mean the check is not testing the package."""
    paths = sysconfig.get_paths()
    stdlib = {Path(paths["stdlib"]).resolve(), Path(paths["platstdlib"]).resolve()}
    site = {Path(paths["purelib"]).resolve(), Path(paths["platlib"]).resolve()}
    foreign = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if path == Path(__file__).resolve():  # this script, as __main__ (and __mp_main__)
            continue
        in_stdlib = any(path.is_relative_to(p) for p in stdlib)
        in_site = any(path.is_relative_to(p) for p in site)
        ours = any(path.is_relative_to(root) for root in roots)
        if not ours and (in_site or not in_stdlib):
            foreign.append(f"{name} from {path}")
    return sorted(foreign)


def import_everything() -> list[str]:
    """Import each module of the package; the names imported."""
    package = importlib.import_module("masking_unset")
    names = [info.name for info in pkgutil.walk_packages(package.__path__, "masking_unset.")]
    for name in names:
        importlib.import_module(name)
    return names


def lambda_context() -> Any:
    """The tooling's local Lambda context (standard library only), run from its file: the
    tooling is not in the package, so it is not importable here, and must not become so."""
    path = Path(__file__).resolve().parents[1] / "src" / "tools" / CONTEXT_MODULE
    return runpy.run_path(str(path))["LocalLambdaContext"]()


def invoke(handler: str, event_file: Path, snapstart: bool) -> Any:
    """What the handler answers for the event, with a Lambda-like context."""
    hooks: dict[str, list[Any]] = {"before": [], "after": []}
    if snapstart:
        runtime = types.ModuleType("snapshot_restore_py")
        runtime.register_before_snapshot = hooks["before"].append  # type: ignore[attr-defined]
        runtime.register_after_restore = hooks["after"].append  # type: ignore[attr-defined]
        sys.modules[runtime.__name__] = runtime
    module = importlib.import_module(f"masking_unset.handlers.{handler}")
    if snapstart and not (hooks["before"] and hooks["after"]):
        raise SystemExit("the handler module registered no SnapStart hooks")
    for hook in hooks["before"] + hooks["after"]:
        hook()
    event = json.loads(event_file.read_text())
    return module.lambda_handler(event, lambda_context())


def main() -> None:
    dirs, out, *call = sys.argv[1:]
    roots = [Path(folder).resolve() for folder in dirs.split(os.pathsep)]
    sys.path[0:0] = [str(root) for root in roots]
    report: dict[str, Any] = {}
    if call:
        handler, event_file, *mode = call
        report["response"] = invoke(handler, Path(event_file), mode == ["snapstart"])
    else:
        report["imported"] = import_everything()
    report["foreign_modules"] = foreign_modules(roots)
    Path(out).write_text(json.dumps(report))


if __name__ == "__main__":
    main()
