"""`make bench` at a tiny size: every figure is produced against its baseline, so the benchmark cannot rot.
Its own embedded PostgreSQL and broker, the platform as `make run` serves it (signed in as the department);
nothing about speed is asserted (figures belong in `make bench`, not in timed tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {"append", "relay", "projector", "http", "http_raw_client", "import"}


def test_a_tiny_bench_produces_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    args = ["--append-events", "200", "--append-seconds", "1", "--members", "40", "--deposits", "3"]
    args += ["--http-members", "32", "--http-seconds", "2", "--http-warmup", "0.5", "--output", str(output)]
    args += ["--import-groups", "3", "--import-members", "5", "--import-months", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(output.read_text())["figures"]
    assert set(figures) == FIGURES
    for key, figure in figures.items():
        for side in ("ours", "baseline"):
            assert figure[side]["count"] > 0 and figure[side]["rate"] > 0 and figure[side]["seconds"] > 0, (
                key,
                side,
                figure[side],
            )
    # The platform answered the load signed in: deposits were made, none refused.
    for key in ("http", "http_raw_client"):
        statuses = figures[key]["ours"]["extra"]["statuses"]
        assert set(statuses) == {"201"}, (key, statuses)
    assert figures["projector"]["ours"]["extra"]["balances_match_store"] is True
