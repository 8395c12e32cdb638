"""Where the import time goes, by package: ``python -m benchmarks.importtime [--first-event]``.

Without options: ``python -X importtime -c "import masking_unset.handlers.<name>"`` for each
handler, in fresh interpreters. With ``--first-event``: the cold starts of
:mod:`benchmarks.run` (each handler serving its first event against the local stand-ins) under
``-X importtime``, listing only what they import beyond the floor process (boto3, the Secrets
Manager client, requests) - the part of the cold start the implementation answers for.

Each view is measured ``--runs`` times after one untimed run that compiles the bytecode into a
private cache; each module counts with its median own time. ``-X importtime`` adds overhead of
its own, so totals exceed a plain import; the shares are what count.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("webhook", "queue")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def package(module: str) -> str:
    """The group a module's time is counted in: the standard library as one, this project by
    sub-package, everything else by top-level package."""
    parts = module.split(".")
    if parts[0] in sys.stdlib_module_names or parts[0] in sys.builtin_module_names:
        return "(standard library)"
    return ".".join(parts[:2]) if parts[0] == "masking_unset" else parts[0]


def self_times(args: Sequence[str], env: dict[str, str]) -> dict[str, int]:
    """Microseconds of each module's own import time, from one fresh interpreter."""
    proc = subprocess.run(  # noqa: S603 - our own interpreter, no shell
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=True,
    )
    times: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if match := _LINE.match(line):
            times[match.group(4)] = int(match.group(1))
    return times


def medians(measure: Callable[[], dict[str, int]], runs: int) -> dict[str, float]:
    """Each module's median own time over ``runs`` measurements, after one untimed run."""
    measure()
    samples = [measure() for _ in range(max(1, runs))]
    modules = set().union(*samples)
    return {name: statistics.median(s.get(name, 0) for s in samples) for name in modules}


def report(title: str, times: dict[str, float], top: int) -> None:
    """Print the total and the largest packages."""
    groups: dict[str, float] = defaultdict(float)
    for name, micros in times.items():
        groups[package(name)] += micros
    total = sum(groups.values()) or 1.0
    print(f"{title}: {total / 1000:.0f} ms, {len(times)} modules")
    for name, micros in sorted(groups.items(), key=lambda item: -item[1])[:top]:
        print(f"  {micros / 1000:7.1f} ms  {100 * micros / total:4.1f} %  {name}")


def handler_imports(env: dict[str, str], runs: int, top: int) -> None:
    """``import masking_unset.handlers.<name>`` alone."""
    for handler in HANDLERS:
        code = ["-c", f"import masking_unset.handlers.{handler}"]
        report(
            f"import masking_unset.handlers.{handler}",
            medians(lambda code=code: self_times(code, env), runs),  # type: ignore[misc]
            top,
        )


def first_event_imports(pycache: str, runs: int, top: int) -> None:
    """Each handler's first event, minus what the floor process imports too."""
    from benchmarks.run import FULL, Bench
    from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
    from masking_unset_tools.local.deepcall_standin import DeepCallStandIn
    from masking_unset_tools.local.stack import DEMO_SSID, provision

    with (
        tempfile.TemporaryDirectory(prefix="masking-unset-importtime-") as scratch,
        LocalAwsEndpoint() as aws,
        DeepCallStandIn(credentials={"ssid": DEMO_SSID}) as deepcall,
    ):
        bench = Bench(provision(aws, deepcall), FULL, Path(scratch))
        env = {**bench.env("plain"), "PYTHONPYCACHEPREFIX": pycache}

        def cold(kind: str) -> dict[str, int]:
            spec_path, _ = bench.cold_spec(kind)
            return self_times(["-m", "benchmarks.cold", str(spec_path)], env)

        floor = medians(lambda: cold("floor"), runs)
        report("floor (boto3, Secrets Manager client, secret, requests post)", floor, top)
        for kind in HANDLERS:
            times = medians(lambda kind=kind: cold(kind), runs)  # type: ignore[misc]
            beyond = {name: micros for name, micros in times.items() if name not in floor}
            report(f"{kind} first event, imported beyond the floor", beyond, top)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the import time by package."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.importtime", description=__doc__)
    parser.add_argument("--first-event", action="store_true", help="cold starts, beyond the floor")
    parser.add_argument("--top", type=int, default=12, help="packages to list per view")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per view")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="masking-unset-pycache-") as pycache:
        if args.first_event:
            first_event_imports(pycache, args.runs, args.top)
        else:
            env = {**os.environ, "PYTHONPYCACHEPREFIX": pycache}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            handler_imports(env, args.runs, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
