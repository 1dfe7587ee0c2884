"""Capacity, SLO and cost: profiles bound by key, staleness, the sizing rule, prices, the load search,
benchmark imports and the fleet simulation (compiler/capacity)."""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.compiler.capacity.importers import detect
from modelplane.compiler.capacity.lines import headline, price_note, shown
from modelplane.compiler.capacity.prices import HOURS_PER_MONTH, price_for, table
from modelplane.compiler.capacity.profile import (
    CapacityAtSlo,
    Measured,
    Percentiles,
    Probe,
    Profile,
    key_of,
    profile_schema,
)
from modelplane.compiler.capacity.search import Samples, Search, capacity_of, upper_bound_rank, verdict
from modelplane.compiler.capacity.simulation import LatencyModel, calibrate, p99_of, smallest_fleet
from modelplane.compiler.capacity.stage import diagnostics, profiles_of, sizings
from modelplane.compiler.compile import compile_graph, make_plan
from modelplane.errors import GraphError
from modelplane.specs.base import NodeId
from modelplane.specs.models import Model
from modelplane.specs.pricing import PriceRow, Pricing
from modelplane.specs.serving import Endpoint
from tests.conftest import EXAMPLES, GitProject


def _copy(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(EXAMPLES / name, root, ignore=shutil.ignore_patterns(".modelplane"))
    return root


def _endpoint(root: Path, env: str, name: str) -> tuple[Endpoint, Model]:
    graph = compile_graph(root, env, use_cache=False, strict=False).graph
    ep = graph.nodes[NodeId("endpoint", name)].model
    assert isinstance(ep, Endpoint)
    model = graph.nodes[NodeId("model", ep.spec.model)].model
    assert isinstance(model, Model)
    return ep, model


def _profile(ep: Endpoint, model: Model, qps: float, in_flight: float, probes: list[Probe] | None = None) -> Profile:
    return Profile(
        key=key_of(ep.spec, model.metadata.name, model.spec),
        capacity=CapacityAtSlo(
            qps_per_replica=qps,
            low=qps * 0.97,
            high=qps * 1.03,
            in_flight_per_replica=in_flight,
            p99_latency_ms=ep.spec.slo.p99_latency_ms,
        ),
        probes=probes
        or [
            Probe(
                offered_qps=qps,
                duration_s=10,
                requests=int(qps * 10),
                errors=0,
                throughput_qps=qps,
                in_flight=in_flight,
                e2e_ms=Percentiles(p50=150, p99=900),
                meets_slo=True,
            )
        ],
        measured=Measured(
            at="2026-12-06T12:00:00+00:00",
            where="a test",
            engine="simulator",
            tool="tests",
            endpoint=f"endpoint/{ep.metadata.name}",
        ),
    )


def _write(root: Path, path: str, profile: Profile) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(profile.model_dump_json(indent=2))


def _codes(root: Path, env: str) -> dict[str, list[str]]:
    graph = compile_graph(root, env, use_cache=False, strict=False).graph
    out: dict[str, list[str]] = {}
    for d in diagnostics(graph):
        out.setdefault(d.code, []).append(d.message)
    return out


# -- the sizing rule -------------------------------------------------------------------------------


def test_grammar_prod_reads_167_239_358_gpus_raw_at_target_and_with_a_zone_lost(tmp_path: Path) -> None:
    """The motivating workload: 200,000 req/s at 1,200 per H100 replica, autoscaler at 70% (336 of 480 in
    flight), three zones at 99.99%: 167 replicas hold the peak, 239 at the target, 358 with a zone lost."""
    root = _copy(tmp_path, "assistant-platform")
    graph = compile_graph(root, "prod", use_cache=False).graph
    s, binding = sizings(graph, profiles_of(graph))[NodeId("endpoint", "grammar-prod")]
    assert s is not None and binding.profile is None
    assert (s.within_slo, s.steady, s.needed) == (167, 239, 358)
    assert round(s.utilisation, 2) == 0.7 and s.zones == 3
    assert s.price is not None and s.price.row.instance_type == "p5.48xlarge" and s.price.per_gpu_hour == 6.88
    # $6.88 per H100-hour x 730 h x 239 GPUs: the reference's $1.20M/month
    assert round(s.cost(s.steady)) == round(239 * 6.88 * HOURS_PER_MONTH) == 1_200_354


def test_max_replicas_below_the_zone_loss_need_is_an_error_with_the_numbers_and_the_fix(tmp_path: Path) -> None:
    root = _copy(tmp_path, "assistant-platform")
    (root / "modelplane.yaml").write_text(
        (root / "modelplane.yaml").read_text().replace("grammar_max_replicas: 360", "grammar_max_replicas: 320")
    )
    with pytest.raises(GraphError) as err:
        compile_graph(root, "prod", use_cache=False)
    found = [d for d in err.value.diagnostics if d.code == "insufficient-replicas"]
    assert len(found) == 1
    d = found[0]
    assert "max_replicas 320 < 358 needed with one of 3 zones lost" in d.message
    assert d.hint and "raise max_replicas to at least 358" in d.hint
    assert d.location is not None and d.location.file == "specs/serving/endpoints.yaml" and d.location.line == 46


def test_a_pool_must_hold_a_canary_beside_a_full_stable_revision(tmp_path: Path) -> None:
    root = _copy(tmp_path, "assistant-platform")
    stacks = root / "specs/serving/stacks.yaml"
    stacks.write_text(stacks.read_text().replace("max_nodes: 64", "max_nodes: 48", 1))
    codes = _codes(root, "prod")
    (msg,) = codes["gpu-capacity"]
    assert "384 H100 GPUs at most" in msg and "120 more for a canary beside a full stable revision" in msg


def test_min_below_steady_and_a_ramp_the_autoscaler_cannot_follow_are_warnings(tmp_path: Path) -> None:
    root = _copy(tmp_path, "assistant-platform")
    codes = _codes(root, "prod")
    assert any("min_replicas 180 < 239" in m for m in codes["min-below-steady"])
    ep = root / "specs/serving/endpoints.yaml"
    ep.write_text(
        ep.read_text().replace(
            "    output_tokens: 50\n  slo:", "    output_tokens: 50\n    ramp: {percent_per_minute: 10}\n  slo:", 1
        )
    )
    codes = _codes(root, "prod")
    (ramp,) = codes["ramp-too-fast"]
    # 10%/min x (3 min node + 5 min pod start) = 80% growth; the autoscaler holds 70%: 1.26 > 1
    assert "endpoint/grammar-prod: traffic grows 80%" in ramp and "at 70% of capacity" in ramp


def test_an_autoscaler_slower_than_the_ramp_is_a_warning(tmp_path: Path) -> None:
    root = _copy(tmp_path, "assistant-platform")
    ep = root / "specs/serving/endpoints.yaml"
    ep.write_text(
        ep.read_text().replace(
            "max_percent_per_period: 100, period: 15s}", "max_percent_per_period: 1, period: 60s}", 1
        )
    )
    (slow,) = _codes(root, "prod")["scale-up-too-slow"]
    assert "adds at most 1% of the fleet per minute, the traffic grows 2%/min" in slow


# -- profiles: binding and staleness ---------------------------------------------------------------


def test_a_profile_found_by_key_sizes_the_endpoint_and_changing_max_num_seqs_or_the_image_marks_it_stale(
    tmp_path: Path,
) -> None:
    root = _copy(tmp_path, "quickstart")
    ep, model = _endpoint(root, "dev", "tiny-chat")
    _write(root, "profiles/tiny-chat-dev.json", _profile(ep, model, qps=30.0, in_flight=4.0))
    codes = _codes(root, "dev")
    assert "no-profile" not in codes and "stale-profile" not in codes
    graph = compile_graph(root, "dev", use_cache=False).graph
    s, binding = sizings(graph, profiles_of(graph))[NodeId("endpoint", "tiny-chat")]
    assert s is not None and binding.path == "profiles/tiny-chat-dev.json" and s.source.qps_per_replica == 30.0

    serving = root / "specs/serving.yaml"
    original = serving.read_text()
    serving.write_text(original.replace("max_num_seqs: 64", "max_num_seqs: 128"))
    (stale,) = _codes(root, "dev")["stale-profile"]
    assert "--max-num-seqs: 64 -> 128" in stale and "modelplane bench tiny-chat --env dev" not in stale

    serving.write_text(original.replace("  engine:\n", "  engine:\n    image: vllm/vllm-openai:v0.34.0\n", 1))
    (stale,) = _codes(root, "dev")["stale-profile"]
    assert "engine version: 0.33.0 -> 0.34.0" in stale and "engine image: vllm/vllm-openai:v0.33.0 ->" in stale


def test_validate_and_plan_both_say_the_profile_is_stale(tmp_path: Path) -> None:
    root = _copy(tmp_path, "quickstart")
    ep, model = _endpoint(root, "dev", "tiny-chat")
    _write(root, "profiles/tiny-chat-dev.json", _profile(ep, model, qps=30.0, in_flight=4.0))
    serving = root / "specs/serving.yaml"
    serving.write_text(serving.read_text().replace("max_num_seqs: 64", "max_num_seqs: 32"))
    result = make_plan(root, "dev", use_cache=False)
    assert any(d.code == "stale-profile" and "--max-num-seqs: 64 -> 32" in d.message for d in result.plan.diagnostics)
    (line,) = result.plan.capacity
    assert line.stale == ["--max-num-seqs: 64 -> 32"] and "profile profiles/tiny-chat-dev.json is stale" in (
        line.capacity_source
    )


def test_a_named_profile_that_does_not_exist_is_an_error_naming_the_bench_command(tmp_path: Path) -> None:
    root = _copy(tmp_path, "quickstart")
    serving = root / "specs/serving.yaml"
    serving.write_text(
        serving.read_text().replace(
            "capacity: {target_qps_per_replica: 20}",
            "capacity: {target_qps_per_replica: 20, profile: profiles/nope.json}",
        )
    )
    (msg,) = _codes(root, "dev")["missing-profile"]
    assert "capacity.profile names profiles/nope.json, which does not exist" in msg


def test_an_unreadable_profile_is_reported_with_its_file_not_a_traceback(tmp_path: Path) -> None:
    root = _copy(tmp_path, "quickstart")
    (root / "profiles").mkdir()
    (root / "profiles/broken.json").write_text('{"format_version": 1, "key": {}}')
    (msg,) = _codes(root, "dev")["invalid-profile"]
    assert msg.startswith("capacity profile profiles/broken.json cannot be used")


def test_a_changed_profile_is_seen_by_a_cached_validate(tmp_path: Path) -> None:
    """Profiles are part of the compile's input: the cached graph is not reused once one changes."""
    root = _copy(tmp_path, "quickstart")
    ep, model = _endpoint(root, "dev", "tiny-chat")
    compile_graph(root, "dev", use_cache=True)
    _write(root, "profiles/tiny-chat-dev.json", _profile(ep, model, qps=30.0, in_flight=4.0))
    warnings = compile_graph(root, "dev", use_cache=True).warnings
    assert not any(d.code == "no-profile" for d in warnings)


def test_the_profile_schema_is_published_and_a_profile_validates_against_it(tmp_path: Path) -> None:
    import jsonschema

    root = _copy(tmp_path, "quickstart")
    ep, model = _endpoint(root, "dev", "tiny-chat")
    doc = json.loads(_profile(ep, model, 30.0, 4.0).model_dump_json())
    jsonschema.validate(doc, profile_schema())
    assert profile_schema()["title"].startswith("modelplane capacity profile")


# -- prices ----------------------------------------------------------------------------------------


def test_every_price_in_the_table_carries_its_source_and_date() -> None:
    assert table()
    for row in table():
        assert row.source and isinstance(row.as_of, datetime.date)


def test_prices_come_from_the_instance_then_the_accelerator_and_a_project_row_wins() -> None:
    p = price_for("aws-eks", "us-east-1", "H100", "p5.48xlarge", Pricing())
    assert p is not None and not p.estimated and p.per_gpu_hour == 6.88
    est = price_for("aws-eks", "us-east-1", "L40S", "g6e.12xlarge", Pricing())
    assert est is not None and est.estimated and est.row.instance_type == "g6e.xlarge"
    assert "estimated from g6e.xlarge" in est.describe()
    own = PriceRow(
        provider="aws",
        instance_type="p5.48xlarge",
        accelerator="H100",
        gpus=8,
        region="us-east-1",
        usd_per_hour=40.0,
        source="our contract",
        as_of=datetime.date(2026, 10, 1),
    )
    mine = price_for("aws-eks", "us-east-1", "H100", "p5.48xlarge", Pricing(prices=[own]))
    assert mine is not None and mine.per_gpu_hour == 5.0 and "our contract" in mine.describe()
    assert price_for("local", None, "H100", None, Pricing()) is None


def test_an_old_price_gets_a_note(tmp_path: Path) -> None:
    root = _copy(tmp_path, "assistant-platform")
    result = make_plan(root, "prod", use_cache=False)
    line = next(c for c in result.plan.capacity if c.endpoint == "endpoint/grammar-prod")
    assert line.price_as_of is not None
    as_of = datetime.date.fromisoformat(line.price_as_of)
    assert price_note(line, as_of + datetime.timedelta(days=30)) is None
    note = price_note(line, as_of + datetime.timedelta(days=400))
    assert note is not None and "400 days old (over 180)" in note


def test_a_pull_request_shows_capacity_and_cost_deltas(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("assistant-platform")
    gp.edit("modelplane.yaml", "grammar_qps: 200000", "grammar_qps: 205000")
    gp.edit("modelplane.yaml", "grammar_max_replicas: 360", "grammar_max_replicas: 370")
    gp.commit("more grammar traffic")
    plan = make_plan(gp.root, "prod", base_ref="HEAD~1", use_cache=False).plan
    (line,) = shown(plan.capacity)
    assert headline(line) == "endpoint/grammar-prod: +6 H100 at the peak (239 -> 245), +$30,134/month"
    assert line.before is not None and line.before.gpus_steady == 239 and line.figures.gpus_steady == 245


# -- the load search and imports ---------------------------------------------------------------------


def _probe(rate: float, ok: bool) -> Probe:
    return Probe(
        offered_qps=rate, duration_s=5, requests=10, errors=0, throughput_qps=rate, in_flight=rate * 0.15, meets_slo=ok
    )


def test_the_search_doubles_then_bisects_to_five_percent_within_25_probes() -> None:
    true_capacity = 37.0
    search = Search(start=5.0)
    while (rate := search.next_rate()) is not None:
        search.probes.append(_probe(rate, rate <= true_capacity))
    assert len(search.probes) <= 25
    cap = capacity_of(search.probes, 1000.0)
    assert cap is not None and cap.low <= true_capacity <= cap.high
    assert (cap.high - cap.low) / cap.low <= 0.05 and cap.qps_per_replica <= true_capacity


def test_a_probe_passes_only_with_the_p99_upper_bound_within_the_slo_and_keeping_up() -> None:
    fast = Samples(offered_qps=10, duration_s=10, e2e_ms=[100.0] * 99 + [900.0])
    assert verdict(fast, 1000, 0.001).meets_slo
    slow_tail = Samples(offered_qps=10, duration_s=10, e2e_ms=[100.0] * 97 + [1500.0] * 3)
    assert not verdict(slow_tail, 1000, 0.001).meets_slo  # the bound of a p99 over 100 samples is the slowest
    behind = Samples(offered_qps=20, duration_s=10, e2e_ms=[100.0] * 100)  # 10 req/s done of 20 offered
    assert not verdict(behind, 1000, 0.001).meets_slo
    assert upper_bound_rank(1000) > 990


def test_imports_of_vllm_bench_serve_and_guidellm_results() -> None:
    vllm = {"request_throughput": 10.0, "median_e2el_ms": 100.0, "p99_e2el_ms": 200.0}
    guidellm = {"benchmarks": []}
    assert detect(vllm) == "vllm" and detect(guidellm) == "guidellm"
    with pytest.raises(ValueError, match="not a `vllm bench serve` result"):
        detect({"hello": 1})


def test_bench_import_of_a_vllm_result_writes_a_profile(tmp_path: Path) -> None:
    from modelplane.workspace import Workspace

    root = _copy(tmp_path, "quickstart")
    result = {
        "request_rate": 8.0,
        "max_concurrency": None,
        "duration": 60.0,
        "completed": 480,
        "failed": 0,
        "request_throughput": 7.95,
        "mean_e2el_ms": 130.0,
        "median_e2el_ms": 128.0,
        "p99_e2el_ms": 410.0,
        "median_ttft_ms": 22.0,
        "p99_ttft_ms": 60.0,
        "median_itl_ms": 2.1,
        "p99_itl_ms": 9.0,
    }
    (tmp_path / "result.json").write_text(json.dumps(result))
    profile, path = Workspace(root, "dev").bench_import(tmp_path / "result.json", "tiny-chat")
    assert path == root / "profiles/tiny-chat-dev.json" and path.exists()
    assert profile.capacity.qps_per_replica == 7.95 and profile.probes[0].e2e_ms.p99 == 410.0
    assert profile.measured.tool.startswith("vllm bench serve")
    codes = _codes(root, "dev")
    assert "no-profile" not in codes and "stale-profile" not in codes


# -- the fleet simulation --------------------------------------------------------------------------


def test_calibration_recovers_the_latency_model_from_probes() -> None:
    truth = LatencyModel.simulator(ttft_ms=20, tpot_ms=2, max_num_seqs=64, output_tokens=50)
    probes = [
        Probe(
            offered_qps=r,
            duration_s=10,
            requests=100,
            errors=0,
            throughput_qps=r,
            in_flight=n,
            ttft_ms=Percentiles(p50=20.0),
            e2e_ms=Percentiles(p50=truth.service_s(int(n)) * 1000),
            meets_slo=True,
        )
        for r, n in ((10, 1), (50, 8), (100, 16), (200, 32))
    ]
    ep_like = Profile.model_construct(probes=probes, key=type("K", (), {"output_tokens": 50})())  # type: ignore[call-arg]
    fitted = calibrate(ep_like, 64)
    assert abs(fitted.itl0_s - truth.itl0_s) < 1e-6 and abs(fitted.slope_s - truth.slope_s) < 1e-7


def test_the_smallest_simulated_fleet_meets_the_slo_and_one_fewer_does_not() -> None:
    model = LatencyModel.simulator(ttft_ms=20, tpot_ms=2, max_num_seqs=4, output_tokens=50)
    n = smallest_fleet(model, qps=200.0, p99_ms=1000.0, start=4, seconds=20.0)
    assert p99_of(model, 200.0, n, seconds=20.0) <= 1000.0 < p99_of(model, 200.0, n - 1, seconds=20.0)


def test_the_planner_is_within_ten_percent_of_the_simulated_fleet_for_grammar_at_200k(tmp_path: Path) -> None:
    """bench's search on one simulated H100-shaped replica writes a profile; the plan sizes grammar-prod from it
    (its simulation calibrated on the probes) within 10% of the smallest fleet the simulation of the true model
    finds at 200,000 req/s (benchmarks/bench_capacity_model.py prints the same figures)."""
    from modelplane.compiler.capacity import simbench

    H100_MODEL = simbench.H100_SHAPED
    root = _copy(tmp_path, "assistant-platform")
    graph = compile_graph(root, "prod", use_cache=False).graph
    ep, model = graph.nodes[NodeId("endpoint", "grammar-prod")].model, graph.nodes[NodeId("model", "grammar-llm")].model
    assert isinstance(ep, Endpoint) and isinstance(model, Model)
    key = key_of(ep.spec, "grammar-llm", model.spec)
    prof = simbench.profile(H100_MODEL, key, 1000.0, 0.9999, start_rate=100, at="2026-12-07T00:00:00+00:00")
    (root / "profiles").mkdir(exist_ok=True)
    (root / "profiles" / "grammar.json").write_text(prof.model_dump_json())
    graph = compile_graph(root, "prod", use_cache=False, strict=False).graph
    s, binding = sizings(graph, profiles_of(graph))[NodeId("endpoint", "grammar-prod")]
    assert s is not None and binding.profile == prof and s.simulated
    truth = smallest_fleet(H100_MODEL, 200_000.0, 1000.0, start=s.profile_replicas, slice_qps=10_000.0)
    assert abs(s.within_slo - truth) / truth <= 0.10, (s.within_slo, truth)
    assert s.profile_replicas > s.within_slo  # one replica's probe misses what balancing a fleet gains
