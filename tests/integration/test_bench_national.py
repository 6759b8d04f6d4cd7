"""`make bench-national` at a tiny scale (three groups): every figure is produced, so the benchmark cannot rot.
Its own embedded PostgreSQL and broker, the platform as `make run` serves it; nothing about speed is asserted."""

from __future__ import annotations

import json
from pathlib import Path

from bench.national import runner


def test_a_tiny_national_benchmark_produces_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "national.json"
    runner.main(
        ["--scale", "0.0001", "--rounds", "1", "--workers", "1", "--deposit-rate", "20", "--output", str(output)]
    )
    results = json.loads(output.read_text())
    assert results == json.loads(output.read_text())  # the file is what main returned, as JSON
    write = results["write"]
    assert write["groups"] == 3 and write["members"] == 326
    assert write["events"] > 3_000 and write["events_per_s"] > 0 and write["database_mib"]["database"] > 0
    catch_up = results["catch_up"]
    assert set(catch_up["relays"]) == {"ledger", "lending", "campaign"}
    assert all(r["events"] > 0 and r["events_per_s"] is not None for r in catch_up["relays"].values())
    assert len(catch_up["projectors"]) == runner.EXPECTED_PROJECTORS and not catch_up["notes"]
    for name, projector in catch_up["projectors"].items():
        assert projector["events"] > 0 and projector["caught_up_s"] and projector["events_per_s"], name
    levels = {r["level"] for r in results["reads"]}
    assert levels == {"national", "province", "district", "group"}
    for read in results["reads"]:
        assert read["samples"] == 1 and read["p50_ms"] and read["p99_ms"] and not read["errors"], read
    assert {"stats", "stats/series", "stats/breakdown", "portfolio", "campaign series", "smart closest"} <= {
        r["read"] for r in results["reads"]
    }
    assert results["deposit_load"]["statuses"].get("201", 0) > 0
    assert results["services_actions"]["referrals"]["refresh_status"] == 201
    peak = results["memory"]["peak"]
    assert peak["broker_rss_mib"] > 0 and peak["database_pss_mib"] > 0 and peak["services_rss_mib"] > 0
    assert results["load_average"]["during_reads"]
    alone = results["alone"]
    rebuilt = {f["projection"]: f for f in alone["projections"]}
    assert {"statistics", "member_balances", "loan_portfolio", "audit_log"} <= set(rebuilt) and not alone["skipped"]
    for name, figure in rebuilt.items():
        assert not figure["error"] and figure["records"] > 0 and figure["records_per_s"] > 0, name


def test_the_broker_probe_publishes_a_tiny_nation_and_estimates_the_largest_scale(tmp_path: Path) -> None:
    from bench.national import broker

    output = tmp_path / "broker.json"
    results = broker.main(["--scale", "0.0001", "--workers", "1", "--floor-mib", "0", "--output", str(output)])
    assert json.loads(output.read_text()) == json.loads(json.dumps(results))
    published = results["publish"]
    assert published["published"] == results["write"]["events"] > 3_000 and not published["stopped_early"]
    assert published["broker_bytes_per_event"] > 0 and published["broker_rss_end_mib"] > 0
    assert results["largest_scale_estimate"] > 0
