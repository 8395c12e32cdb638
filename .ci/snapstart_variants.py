"""template.yaml with its SnapStart parameter decided: one copy per value, for the linters.

cfn-lint and checkov read the template with both branches of every condition; this resolves the
``HasSnapStart`` condition instead, so each deployable variant is checked as it would deploy.
`make cfn-lint` and `make checkov` run on both copies, as tests/test_template.py does.

Usage: python snapstart_variants.py OUT_DIR  (writes template-snapstart-<value>.json there)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cfnlint.decode.decode import decode_str

ROOT = Path(__file__).resolve().parents[1]
CONDITION = "HasSnapStart"
VALUES = {"Enabled": True, "Disabled": False}
_NO_VALUE = {"Ref": "AWS::NoValue"}


_DROP = object()  # where the condition chose AWS::NoValue: the key or item goes


def _resolve(node: Any, enabled: bool) -> Any:
    if isinstance(node, dict):
        branches = node.get("Fn::If")
        if len(node) == 1 and isinstance(branches, list) and branches[0] == CONDITION:
            chosen = branches[1] if enabled else branches[2]
            return _DROP if chosen == _NO_VALUE else _resolve(chosen, enabled)
        resolved = {key: _resolve(value, enabled) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _DROP}
    if isinstance(node, list):
        return [item for item in (_resolve(i, enabled) for i in node) if item is not _DROP]
    return node


def render(value: str, template_path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """The template as deployed with ``SnapStart=value``."""
    template, problems = decode_str(template_path.read_text(encoding="utf-8"))
    if problems or template is None:
        raise SystemExit(f"{template_path} does not load: {problems}")
    template = json.loads(json.dumps(template))  # plain dicts and lists
    rendered: dict[str, Any] = _resolve(template, VALUES[value])
    del rendered["Conditions"][CONDITION]  # decided: nothing refers to it any more
    rendered["Parameters"]["SnapStart"]["Default"] = value
    rendered["Parameters"]["SnapStart"]["AllowedValues"] = [value]
    return rendered


def write_all(out_dir: Path) -> list[Path]:
    """One JSON copy per value in ``out_dir``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for value in VALUES:
        path = out_dir / f"template-snapstart-{value.lower()}.json"
        path.write_text(json.dumps(render(value), indent=1), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all(Path(sys.argv[1])):
        print(written)  # noqa: T201
