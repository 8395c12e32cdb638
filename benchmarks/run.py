"""The benchmark: ``python -m benchmarks.run`` (a few minutes) or ``--quick`` (under a minute).

Starts a moto server and the DeepCall stand-in on 127.0.0.1 in this process, provisions the
stack, runs every measurement in a child process with the function's environment, and prints
one table. Every figure is a ratio of two things measured side by side in this run; absolute
values are printed next to it. See docs/performance.md for what each figure means.

Each figure has two rows: ``plain`` (IDEMPOTENCY_TABLE and MASKING_MAP_TABLE unset: the DeepCall
call alone) and ``idempotency`` (both set, the tables on the local endpoint), so the cost of the
per-event AWS calls shows on its own.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.events import national, sqs_event, webhook_event
from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
from masking_unset_tools.local.deepcall_standin import UNSET_PATH, DeepCallStandIn
from masking_unset_tools.local.stack import DEMO_SSID, DEMO_WEBHOOK_SECRET, LocalStack, provision

ROOT = Path(__file__).resolve().parent.parent
LIBRARY_NAMES = "pydantic+Powertools+phonenumbers"  # benchmarks.cold.LIBRARIES, in short
PACKAGES = (
    "boto3",
    "botocore",
    "aws-lambda-powertools",
    "pydantic",
    "requests",
    "phonenumberslite",
)
MIB = 1024.0


@dataclass(frozen=True)
class Sizes:
    """How much of everything one run measures."""

    warm_pairs: int
    warm_warmup: int
    batch_records: int
    batch_latency: float
    batch_concurrency: int
    batch_reps: int
    cold_reps: int
    memory_invocations: int
    memory_checkpoint: int
    timeout: float  # seconds any one child process may take


FULL = Sizes(
    warm_pairs=1000,
    warm_warmup=50,
    batch_records=100,
    batch_latency=0.05,
    batch_concurrency=10,
    batch_reps=3,
    cold_reps=15,
    memory_invocations=10_000,
    memory_checkpoint=1_000,
    timeout=900.0,
)
QUICK = Sizes(
    warm_pairs=30,
    warm_warmup=5,
    batch_records=20,
    batch_latency=0.02,
    batch_concurrency=10,
    batch_reps=1,
    cold_reps=1,
    memory_invocations=200,
    memory_checkpoint=20,
    timeout=120.0,
)

# The two rows of every figure: environment overrides on top of the provisioned stack.
SETUPS: dict[str, dict[str, str]] = {
    "plain": {"IDEMPOTENCY_TABLE": "", "MASKING_MAP_TABLE": ""},
    "idempotency": {},
}


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    figure: str
    setup: str
    measured: str
    reference: str
    ratio: float
    target: str
    met: bool

    def cells(self) -> list[str]:
        """The printed cells."""
        ratio = f"{self.ratio:.3f}" if abs(self.ratio) < 10 else f"{self.ratio:.1f}"
        return [
            self.figure,
            self.setup,
            self.measured,
            self.reference,
            ratio,
            self.target,
            "yes" if self.met else "NO",
        ]


HEADER = ["figure", "setup", "measured", "reference", "ratio", "target", "met"]


def ms(seconds: float) -> str:
    """Seconds as milliseconds text."""
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def mib(kib: float) -> str:
    """KiB as MiB text."""
    return f"{kib / MIB:.1f} MiB"


class BenchmarkError(RuntimeError):
    """A measured flow did not do its job; its numbers would mean nothing."""


class Bench:
    """The stack, the scratch directory and the child processes of one run."""

    def __init__(
        self, stack: LocalStack, sizes: Sizes, workdir: Path, *, bytecode: bool = True
    ) -> None:
        self.stack = stack
        self.sizes = sizes
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:6]
        self._next_index = 0
        self._files = 0
        # Bytecode in a private cache, compiled by an untimed first run, so the venv is never
        # written to. Without it (bytecode=False) every child compiles every module it imports,
        # as a Lambda package without .pyc files does on each cold start (/var/task is
        # read-only, so Python cannot keep what it compiled).
        self.bytecode = bytecode
        self.pycache = workdir / "pycache"

    def indices(self, count: int) -> int:
        """The first of ``count`` unused event indices (numbers and ids never repeat)."""
        first = self._next_index
        self._next_index += count
        return first

    def path(self, stem: str) -> Path:
        """A fresh file name in the scratch directory."""
        self._files += 1
        return self.workdir / f"{self._files:04d}-{stem}.json"

    def env(self, setup: str) -> dict[str, str]:
        """The child's environment: the function's variables on top of ours."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(self.stack.env())
        env.update(SETUPS[setup])
        if not self.bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"  # the empty cache below stays empty
        env.update(
            {
                "POWERTOOLS_LOG_LEVEL": "ERROR",
                "MAX_CONCURRENCY": str(self.sizes.batch_concurrency),
                "PYTHONPYCACHEPREFIX": str(self.pycache),
                # Loopback must never go through a proxy from the caller's environment.
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        return env

    def _spawn(self, args: Sequence[str], env: dict[str, str]) -> None:
        # stdout is the function's (metrics are printed there); stderr explains a failure.
        proc = subprocess.run(  # noqa: S603 - our own interpreter and modules, no shell
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=self.sizes.timeout,
            check=False,
        )
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace")[-2000:]
            raise BenchmarkError(f"{' '.join(args)} failed ({proc.returncode}):\n{tail}")

    def worker(self, mode: str, setup: str, **config: Any) -> dict[str, Any]:
        """Run one :mod:`benchmarks.worker` measurement; its failures abort the run."""
        self.stack.deepcall.clear()  # forget what earlier children expired and recorded
        config_path, result_path = self.path(f"{mode}-config"), self.path(f"{mode}-result")
        base = {
            "mode": mode,
            "run": f"{self.run_id}-{mode}-{setup}",
            "webhook_secret": DEMO_WEBHOOK_SECRET,
            "ssid": DEMO_SSID,
            "secret_id": self.stack.deepcall_secret_id,
            "deepcall_url": self.stack.deepcall.base_url,
        }
        config_path.write_text(json.dumps({**base, **config}), encoding="utf-8")
        self._spawn(
            ["-m", "benchmarks.worker", str(config_path), str(result_path)], self.env(setup)
        )
        result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
        if result.get("failures"):
            raise BenchmarkError(f"{mode} ({setup}): {result['failures']} invocations failed")
        return result

    def cold_spec(self, kind: str) -> tuple[Path, Path]:
        """A :mod:`benchmarks.cold` spec file with a fresh event, and where it writes its end."""
        index = self.indices(1)
        run = f"{self.run_id}-cold"
        done_path = self.path("cold-done")
        spec: dict[str, Any] = {"kind": kind, "done_path": str(done_path)}
        if kind == "webhook":
            spec["event"] = webhook_event(run, index, DEMO_WEBHOOK_SECRET)
        elif kind == "queue":
            spec["event"] = sqs_event(run, index, 1)
        else:
            spec.update(
                secret_id=self.stack.deepcall_secret_id,
                url=self.stack.deepcall.base_url + UNSET_PATH,
                body={"mask": national(index), "expiry_duration": -1},
            )
        spec_path = self.path(f"cold-{kind}")
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        return spec_path, done_path

    def cold(self, kind: str, setup: str) -> float:
        """Seconds from spawning a fresh interpreter to its first answer."""
        spec_path, done_path = self.cold_spec(kind)
        env = self.env(setup)
        # time.monotonic() is CLOCK_MONOTONIC on Linux, shared with the child.
        started = time.monotonic()
        self._spawn(["-m", "benchmarks.cold", str(spec_path)], env)
        done = json.loads(done_path.read_text(encoding="utf-8"))
        if not done["ok"]:
            raise BenchmarkError(f"cold {kind} ({setup}) did not serve its event")
        return float(done["done"]) - started


def warm_rows(bench: Bench) -> list[Row]:
    """a. One warm webhook invocation vs a bare post of the same request."""
    sizes = bench.sizes
    rows = []
    for setup in SETUPS:
        result = bench.worker(
            "warm",
            setup,
            first=bench.indices(sizes.warm_warmup + sizes.warm_pairs),
            pairs=sizes.warm_pairs,
            warmup=sizes.warm_warmup,
        )
        handler, bare = statistics.median(result["handler"]), statistics.median(result["bare"])
        ratio = handler / bare
        rows.append(
            Row(
                "a. warm webhook / bare post",
                setup,
                f"{ms(handler)} median of {len(result['handler'])}",
                f"{ms(bare)} bare requests post",
                ratio,
                "<= 1.5",
                ratio <= 1.5,
            )
        )
    return rows


def batch_rows(bench: Bench) -> list[Row]:
    """b. A batch against the ideal, and Powertools' sequential processor against ours."""
    sizes = bench.sizes
    lanes = sizes.batch_concurrency
    ideal = math.ceil(sizes.batch_records / lanes) * sizes.batch_latency
    rows = []
    deepcall = bench.stack.deepcall
    for setup in SETUPS:
        deepcall.latency = sizes.batch_latency
        try:
            result = bench.worker(
                "batch",
                setup,
                first=bench.indices(sizes.batch_records * (2 * sizes.batch_reps + 1) + 1),
                records=sizes.batch_records,
                reps=sizes.batch_reps,
            )
        finally:
            deepcall.latency = 0.0
        ours, theirs = statistics.median(result["ours"]), statistics.median(result["powertools"])
        label = f"{sizes.batch_records} records, {ms(sizes.batch_latency)} DeepCall, {lanes} lanes"
        rows.append(
            Row(
                "b. batch / ideal",
                setup,
                f"{ms(ours)} ({label})",
                f"{ms(ideal)} ideal",
                ours / ideal,
                "<= 1.3",
                ours / ideal <= 1.3,
            )
        )
        rows.append(
            Row(
                "b. Powertools sequential / ours",
                setup,
                f"{ms(theirs)} Powertools BatchProcessor",
                f"{ms(ours)} ours",
                theirs / ours,
                ">= 7",
                theirs / ours >= 7,
            )
        )
    return rows


def cold_rows(bench: Bench) -> list[Row]:
    """c. A fresh interpreter serving its first event vs one doing only the floor; and the
    floor plus the imports of the other required libraries, so the part of the gap that is
    theirs shows."""
    variants = [("floor", "plain"), ("libraries", "plain")] + [
        (kind, setup) for kind in ("webhook", "queue") for setup in SETUPS
    ]
    for kind, setup in variants:
        bench.cold(kind, setup)  # untimed: fills the bytecode cache (if used) and page cache
    times: dict[tuple[str, str], list[float]] = {variant: [] for variant in variants}
    for rep in range(bench.sizes.cold_reps):
        # Rotate the order so no variant always follows the same one.
        shift = rep % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            times[variant].append(bench.cold(*variant))
    floor = statistics.median(times[("floor", "plain")])
    libraries = statistics.median(times[("libraries", "plain")])
    rows = [
        Row(
            "c. libraries floor / floor",
            "plain",
            f"{ms(libraries)} floor + import {LIBRARY_NAMES}",
            f"{ms(floor)} boto3+client+secret+post",
            libraries / floor,
            "<= 1.25",
            libraries / floor <= 1.25,
        )
    ]
    for kind, setup in variants[2:]:
        value = statistics.median(times[(kind, setup)])
        rows.append(
            Row(
                f"c. cold start {kind} / floor",
                setup,
                f"{ms(value)} median of {len(times[(kind, setup)])}",
                f"{ms(floor)} boto3+client+secret+post",
                value / floor,
                "<= 1.25",
                value / floor <= 1.25,
            )
        )
    return rows


def memory_rows(bench: Bench) -> list[Row]:
    """d. Peak RSS over many warm invocations, and its growth after the checkpoint."""
    sizes = bench.sizes
    count, checkpoint = sizes.memory_invocations, sizes.memory_checkpoint
    floor = bench.worker("floor_memory", "plain", first=bench.indices(count), invocations=count)
    rows = []
    for setup in SETUPS:
        result = bench.worker(
            "memory",
            setup,
            first=bench.indices(count),
            invocations=count,
            checkpoint=checkpoint,
        )
        peak = result["peak_kib"]
        rows.append(
            Row(
                f"d. peak RSS, {count:,} invocations",
                setup,
                mib(peak),
                f"{mib(floor['peak_kib'])} floor process",
                peak / floor["peak_kib"],
                "<= 96 MiB",
                peak <= 96 * MIB,
            )
        )
        growth = result["rss_end_kib"] / result["rss_checkpoint_kib"]
        rows.append(
            Row(
                f"d. RSS growth {checkpoint:,} -> {count:,}",
                setup,
                mib(result["rss_end_kib"]),
                f"{mib(result['rss_checkpoint_kib'])} at {checkpoint:,}",
                growth,
                "<= 1.02",
                growth <= 1.02,
            )
        )
    return rows


def package_rows(bench: Bench) -> list[Row]:
    """e. Package size (benchmarks/package.py)."""
    from benchmarks.package import package_rows as rows

    return rows(bench)


def snapshot_rows(bench: Bench) -> list[Row]:
    """f. Cold start resumed from a snapshot, emulated (benchmarks/package.py)."""
    from benchmarks.package import snapshot_rows as rows

    return rows(bench)


FIGURES: dict[str, Callable[[Bench], list[Row]]] = {
    "a": warm_rows,
    "b": batch_rows,
    "c": cold_rows,
    "d": memory_rows,
    "e": package_rows,
    "f": snapshot_rows,
}


def machine() -> list[str]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    # Other work on the machine moves the absolute times (the ratios much less): say how much.
    load = (
        ", ".join(f"{value:.1f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    )
    return [
        f"date: {now}",
        f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}",
        f"load average (1, 5, 15 min) at the end: {load}",
        f"python: {platform.python_version()} ({platform.python_implementation()})",
        f"packages: {versions}",
    ]


def table(rows: Sequence[Row]) -> str:
    """A Markdown table of the rows."""
    lines = [HEADER, ["---"] * len(HEADER), *(row.cells() for row in rows)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected figures and print the table; 0 even when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks it works")
    parser.add_argument(
        "--only", default="abcdef", help="figures to run, e.g. 'ac' (default: all of abcdef)"
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="children compile every module they import, as a package without .pyc files does",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures: {''.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="masking-unset-bench-") as scratch,
        LocalAwsEndpoint() as aws,
        DeepCallStandIn(credentials={"ssid": DEMO_SSID}) as deepcall,
    ):
        bench = Bench(provision(aws, deepcall), sizes, Path(scratch), bytecode=not args.no_bytecode)
        for name, figure in FIGURES.items():
            if name in args.only:
                began = time.monotonic()
                rows.extend(figure(bench))
                # Progress on stderr: the table on stdout stays clean.
                print(f"figure {name}: {time.monotonic() - began:.0f} s", file=sys.stderr)
    mode = "quick (counts too small to mean anything)" if args.quick else "full"
    if args.no_bytecode:
        mode += ", no bytecode (every module compiled at import)"
    print("\n".join(machine()))
    print(f"mode: {mode}; took {time.monotonic() - started:.0f} s\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
