"""The benchmark still runs: ``python -m benchmarks.run --quick`` prints every row with a ratio.

Only the shape is checked. Whether the targets are met depends on the machine and its load, so
no timing is asserted here; docs/performance.md holds the numbers of a full run.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUPS = ("plain", "idempotency")
FIGURES = (
    "a. warm webhook / bare post",
    "b. batch / ideal",
    "b. Powertools sequential / ours",
    "c. cold start webhook / floor",
    "c. cold start queue / floor",
    "d. peak RSS",
    "d. RSS growth",
    "f. cold start webhook, snapshot restore",
    "f. cold start queue, snapshot restore",
)
# Figure e (package size) needs a build, which the quick run never makes: its rows are checked
# only when there is one (benchmarks/package.py).
PACKAGE_FIGURE = "e. package + layer"
# Figures with one row only: a reference measured once, not per setup.
PLAIN_ONLY = ("c. libraries floor / floor",)
# The fleet's burst (g) has a row per setup; the outage (h) one row each, setup "fleet".
BURST_FIGURES = ("g. burst wall time / N/R", "g. burst 429s received / closes")
BURST_SETUPS = ("defaults", "sized for R")
FLEET_ONLY = (
    "h. outage DeepCall requests / deferred event",
    "h. outage lag after recovery",
    "h. outage lost + doubled + parked / closes",
)
# Figure i: DynamoDB writes per close, per path and per setup.
DYNAMODB_FIGURES = ("i. DynamoDB writes per close, webhook", "i. DynamoDB writes per close, queue")
DYNAMODB_SETUPS = (
    "no occurred_at; no fleet table, no rate",
    "occurred_at; no fleet table, no rate",
    "occurred_at; fleet + rate",
    "occurred_at; fleet + rate, breaker cache 0",
)
COLUMNS = ["figure", "setup", "measured", "reference", "ratio", "target", "met"]


def table_rows(output: str) -> list[dict[str, str]]:
    """The rows of the Markdown table in ``output``, keyed by column name."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    assert cells, "no table printed"
    assert cells[0] == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in cells[2:]]


@pytest.mark.slow
def test_quick_mode_prints_every_row_with_a_numeric_ratio() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = table_rows(proc.stdout)
    package_rows = [row for row in rows if row["figure"].startswith(PACKAGE_FIGURE)]
    assert len(package_rows) in {0, 4}
    for row in package_rows:
        assert 0 < float(row["ratio"]) <= 1, row
    rows = [row for row in rows if row not in package_rows]
    found = sorted(
        (figure, row["setup"])
        for row in rows
        for figure in FIGURES
        if row["figure"].startswith(figure)
    )
    found += sorted(
        (figure, row["setup"])
        for row in rows
        for figure in PLAIN_ONLY
        if row["figure"].startswith(figure)
    )
    found += sorted(
        (figure, row["setup"])
        for row in rows
        for figure in FLEET_ONLY
        if row["figure"].startswith(figure)
    )
    found += sorted(
        (figure, row["setup"])
        for row in rows
        for figure in BURST_FIGURES
        if row["figure"] == figure
    )
    found += sorted(
        (figure, row["setup"])
        for row in rows
        for figure in DYNAMODB_FIGURES
        if row["figure"] == figure
    )
    expected = sorted((figure, setup) for figure in FIGURES for setup in SETUPS)
    assert found == (
        expected
        + [(figure, "plain") for figure in PLAIN_ONLY]
        + sorted((figure, "fleet") for figure in FLEET_ONLY)
        + sorted((figure, setup) for figure in BURST_FIGURES for setup in BURST_SETUPS)
        + sorted((figure, setup) for figure in DYNAMODB_FIGURES for setup in DYNAMODB_SETUPS)
    )
    assert len(rows) == (
        len(FIGURES) * len(SETUPS)
        + len(PLAIN_ONLY)
        + len(FLEET_ONLY)
        + len(BURST_FIGURES) * len(BURST_SETUPS)
        + len(DYNAMODB_FIGURES) * len(DYNAMODB_SETUPS)
    )
    for row in rows:
        ratio = float(row["ratio"])
        assert math.isfinite(ratio), row
        # Counts of what should not happen (429s; lost, doubled, parked) may be 0.
        assert ratio > 0 or row["target"] == "= 0", row
        assert row["met"] in {"yes", "NO"}, row
    # Not a timing: whatever the load, an outage loses, doubles and parks nothing.
    [kept] = [row for row in rows if row["figure"].startswith("h. outage lost")]
    assert float(kept["ratio"]) == 0, kept
    assert "machine:" in proc.stdout
    assert "python:" in proc.stdout
