"""Figures e (package size) and f (cold start resumed from a snapshot, emulated).

e. What one function deploys, from an existing build: its package plus the dependencies layer,
   unzipped and zipped (deflate, as ``sam deploy`` zips them), against Lambda's limits. The
   full run builds with ``make build`` when no build exists; ``--quick`` never builds, and
   leaves the rows out (saying so on stderr) when there is none.
f. The first invocation of a copy resumed from a snapshot (benchmarks/snapstart.py) against the
   floor of figure c (a fresh interpreter that imports boto3, reads the secret and posts once),
   measured in this run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.events import sqs_event, webhook_event
from masking_unset_tools.local.stack import DEMO_WEBHOOK_SECRET

if TYPE_CHECKING:
    from benchmarks.run import Bench, Row

ROOT = Path(__file__).resolve().parent.parent
# Where `make build` and `make artifact` leave what sam built (the newer one is used).
BUILDS = (ROOT / ".aws-sam" / "build", ROOT / ".cache" / "artifact" / "deploy")
FUNCTIONS = {"webhook": "WebhookFunction", "queue": "QueueFunction"}
LAYER = "DependenciesLayer"
MIB = 2.0**20
ZIP_LIMIT = 50 * MIB  # a zip uploaded directly
UNZIPPED_LIMIT = 250 * MIB  # a function and all its layers, unzipped


def find_build() -> Path | None:
    """The newest build holding both functions and the layer, if any."""
    found = [b for b in BUILDS if all((b / name).is_dir() for name in [*FUNCTIONS.values(), LAYER])]
    return max(found, key=lambda b: (b / LAYER).stat().st_mtime, default=None)


def sizes(folder: Path, scratch: Path) -> tuple[int, int]:
    """Bytes of the folder's files, and of the folder zipped with deflate."""
    archive = scratch / f"{folder.name}.zip"
    unzipped = 0
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                zipped.write(path, path.relative_to(folder))
    size = archive.stat().st_size
    archive.unlink()
    return unzipped, size


def package_rows(bench: Bench) -> list[Row]:
    """e. Each function's package plus the layer, unzipped and zipped."""
    from benchmarks.run import Row

    build = find_build()
    if build is None and bench.sizes.cold_reps > 1:  # the full run: build it (a minute or two)
        subprocess.run(["make", "build"], cwd=ROOT, check=True)  # noqa: S607 - the repo's make
        build = find_build()
    if build is None:
        print("figure e: no build (make build or make artifact): rows left out", file=sys.stderr)
        return []
    layer = sizes(build / LAYER, bench.workdir)
    rows = []
    for kind, name in FUNCTIONS.items():
        package = sizes(build / name, bench.workdir)
        for label, index, limit, limit_name in (
            ("unzipped", 0, UNZIPPED_LIMIT, "250 MiB unzipped limit"),
            ("zipped", 1, ZIP_LIMIT, "50 MiB zip upload limit"),
        ):
            total = package[index] + layer[index]
            rows.append(
                Row(
                    f"e. package + layer, {label}",
                    kind,
                    f"{total / MIB:.1f} MiB ({package[index] / MIB:.2f} package"
                    f" + {layer[index] / MIB:.1f} layer)",
                    f"Lambda's {limit_name}",
                    total / limit,
                    "<= 1",
                    total <= limit,
                )
            )
    return rows


def restore(bench: Bench, kind: str, setup: str, count: int) -> list[float]:
    """Seconds from each fork of a snapshotted process to its answer."""
    first = bench.indices(count)
    run = f"{bench.run_id}-restore"
    if kind == "webhook":
        events = [webhook_event(run, first + i, DEMO_WEBHOOK_SECRET) for i in range(count)]
    else:
        events = [sqs_event(run, first + i, 1) for i in range(count)]
    spec_path, result_path = bench.path(f"restore-{kind}"), bench.path("restore-result")
    spec = {"kind": kind, "events": events, "result_path": str(result_path)}
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    bench._spawn(["-m", "benchmarks.snapstart", str(spec_path)], bench.env(setup))
    result = json.loads(result_path.read_text(encoding="utf-8"))
    if not result["ok"]:
        from benchmarks.run import BenchmarkError

        raise BenchmarkError(f"restored {kind} ({setup}) did not serve its events")
    return [float(seconds) for seconds in result["seconds"]]


def snapshot_rows(bench: Bench) -> list[Row]:
    """f. The first event of a copy resumed from a snapshot vs the cold-start floor."""
    from benchmarks.run import SETUPS, Row, ms

    reps = bench.sizes.cold_reps
    if bench.sizes.warm_caches:
        bench.cold("floor", "plain")  # untimed: fills the bytecode and page caches
    floor = statistics.median(bench.cold("floor", "plain") for _ in range(reps))
    rows = []
    for kind in FUNCTIONS:
        for setup in SETUPS:
            value = statistics.median(restore(bench, kind, setup, reps))
            rows.append(
                Row(
                    f"f. cold start {kind}, snapshot restore (emulated) / floor",
                    setup,
                    f"{ms(value)} median of {reps}",
                    f"{ms(floor)} boto3+client+secret+post",
                    value / floor,
                    "<= 1.25",
                    value / floor <= 1.25,
                )
            )
    return rows
