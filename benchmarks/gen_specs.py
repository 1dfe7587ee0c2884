"""Generate a synthetic spec repository of N nodes shaped like an ML platform.

Each "domain" holds raw and derived datasets, features, a training workflow,
models, evaluations, endpoints and consuming services; a few shared core
datasets feed many domains, so changing one has a realistic blast radius.

    python benchmarks/gen_specs.py --nodes 10000 --out /tmp/mp10k [--git]

With --git the output becomes a git repository with one commit; then
``--change-upstream`` edits a core dataset and commits again (for ``plan --base HEAD~1``).
``--expect FILE`` writes what a change of dataset/core-0 must reach: every node
downstream of it, from the generator's own record of the edges it wrote (not
from the compiler), so impact's recall can be measured against it.
"""

from __future__ import annotations

import argparse
import random
import subprocess
from pathlib import Path

HEADER = "apiVersion: modelplane/v1\n"
PER_DOMAIN = 24
CORE = 4


def _dataset(name: str, owner: str, cols: list[str], derived: list[str]) -> str:
    columns = "".join(f"      - {{name: {c}, type: string}}\n" for c in cols)
    derived_line = f"  derived_from: [{', '.join(derived)}]\n" if derived else ""
    return (
        f"{HEADER}kind: Dataset\nmetadata:\n  name: {name}\n  owner: {owner}\n  description: synthetic dataset\n"
        f"spec:\n  uri: s3://lake/{name}/\n  format: delta\n{derived_line}  schema:\n    columns:\n{columns}"
    )


def _feature(name: str, owner: str, dataset: str, cols: list[str]) -> str:
    return (
        f"{HEADER}kind: Feature\nmetadata:\n  name: {name}\n  owner: {owner}\nspec:\n  entity: {cols[0]}\n"
        f"  inputs:\n    - dataset: {dataset}\n      columns: [{', '.join(cols)}]\n"
        f"  columns:\n    - {{name: {cols[0]}, type: string}}\n    - {{name: score, type: float64}}\n"
    )


def _workflow(name: str, owner: str, inputs: list[str], outputs: list[str]) -> str:
    return (
        f"{HEADER}kind: Workflow\nmetadata:\n  name: {name}\n  owner: {owner}\nspec:\n"
        f"  inputs: [{', '.join(inputs)}]\n  outputs: [{', '.join(outputs)}]\n"
        f'  command: ["python3", "train.py", "{name}"]\n'
    )


def _model(name: str, owner: str, datasets: list[str], features: list[str], workflow: str, params: float) -> str:
    return (
        f'{HEADER}kind: Model\nmetadata:\n  name: {name}\n  owner: {owner}\nspec:\n  version: "1.0.0"\n'
        f"  artifact: s3://models/{name}/1.0.0/\n  parameters_b: {params}\n  dtype: bf16\n  context_length: 2048\n"
        f"  trained_on:\n    datasets: [{', '.join(datasets)}]\n    features: [{', '.join(features)}]\n"
        f"    workflow: {workflow}\n"
    )


def _evaluation(name: str, owner: str, model: str, dataset: str, blocking: bool) -> str:
    return (
        f"{HEADER}kind: Evaluation\nmetadata:\n  name: {name}\n  owner: {owner}\nspec:\n  model: {model}\n"
        f"  dataset: {dataset}\n  blocking: {'true' if blocking else 'false'}\n"
        f'  command: ["python3", "eval.py"]\n  metrics:\n    - {{name: accuracy, min: 0.7}}\n'
    )


def _endpoint(name: str, owner: str, model: str, stack: str) -> str:
    return (
        f"{HEADER}kind: Endpoint\nmetadata:\n  name: {name}\n  owner: {owner}\nspec:\n  model: {model}\n"
        f"  stack: {stack}\n  engine:\n    args: {{max_model_len: 1024, max_num_seqs: 256}}\n"
        f"  resources: {{accelerator: H100, gpus_per_replica: 1}}\n"
        f"  traffic: {{qps: 500, input_tokens: 50, output_tokens: 50}}\n"
        f"  slo: {{p99_latency_ms: 1000, availability: 0.999}}\n"
        f"  autoscaling: {{min_replicas: 1, max_replicas: 2}}\n"
    )


def _service(name: str, owner: str, consumes: list[str], tier: int) -> str:
    return (
        f"{HEADER}kind: Service\nmetadata:\n  name: {name}\n  owner: {owner}\nspec:\n"
        f"  consumes: [{', '.join(consumes)}]\n  tier: {tier}\n"
    )


def generate(out: Path, nodes: int, seed: int = 7, edges: list[tuple[str, str]] | None = None) -> int:
    """Write the repository; ``edges`` (if given) gets every (upstream, downstream) pair the specs declare."""
    rng = random.Random(seed)
    edges = [] if edges is None else edges

    def edge(source: str, *targets: str) -> None:
        edges.extend((source, t) for t in targets)

    domains = max(1, (nodes - CORE - 1) // PER_DOMAIN)
    gpu_nodes = domains * 2 * 2 // 8 + 1
    files: dict[str, list[str]] = {}
    files["platform/stacks.yaml"] = [
        f"{HEADER}kind: Stack\nmetadata:\n  name: gpu\n  owner: team-platform\nspec:\n  provider: kubernetes\n"
        f"  gpu_pools:\n    - {{name: h100, accelerator: H100, gpus_per_node: 8, min_nodes: 1, max_nodes: {gpu_nodes}}}\n"
    ]
    core_cols = ["user_id", "event", "ts", "value"]
    files["core/datasets.yaml"] = [_dataset(f"core-{i}", "team-core", core_cols, []) for i in range(CORE)]
    count = 1 + CORE
    for d in range(domains):
        team = f"team-{d % 50}"
        p = f"d{d}"
        docs: list[str] = []
        raw = [f"{p}-raw-{i}" for i in range(6)]
        cols = ["user_id", "event", "ts", "value"]
        for i, r in enumerate(raw):
            derived = [f"core-{rng.randrange(CORE)}"] if i == 0 else []
            docs.append(_dataset(r, team, cols, derived))
            for up in derived:
                edge(f"dataset/{up}", f"dataset/{r}")
        derived_ds = [f"{p}-clean-{i}" for i in range(4)]
        for i, name in enumerate(derived_ds):
            docs.append(_dataset(name, team, cols, [raw[i], raw[i + 1]]))
            edge(f"dataset/{raw[i]}", f"dataset/{name}")
            edge(f"dataset/{raw[i + 1]}", f"dataset/{name}")
        feats = [f"{p}-feat-{i}" for i in range(4)]
        for i, name in enumerate(feats):
            docs.append(_feature(name, team, derived_ds[i], ["user_id", "value"]))
            edge(f"dataset/{derived_ds[i]}", f"feature/{name}")
        wf = f"{p}-train"
        models = [f"{p}-model-{i}" for i in range(2)]
        docs.append(
            _workflow(wf, team, [f"dataset/{derived_ds[0]}", f"feature/{feats[0]}"], [f"model/{m}" for m in models])
        )
        edge(f"dataset/{derived_ds[0]}", f"workflow/{wf}")
        edge(f"feature/{feats[0]}", f"workflow/{wf}")
        edge(f"workflow/{wf}", *(f"model/{m}" for m in models))
        for i, m in enumerate(models):
            docs.append(_model(m, team, [derived_ds[i]], [feats[i], feats[i + 2]], wf, 0.5 + i))
            edge(f"dataset/{derived_ds[i]}", f"model/{m}")
            edge(f"feature/{feats[i]}", f"model/{m}")
            edge(f"feature/{feats[i + 2]}", f"model/{m}")
        eps = [f"{p}-ep-{i}" for i in range(2)]
        for i in range(3):
            docs.append(_evaluation(f"{p}-eval-{i}", team, models[i % 2], derived_ds[3], i != 2))
            edge(f"model/{models[i % 2]}", f"evaluation/{p}-eval-{i}")
            edge(f"dataset/{derived_ds[3]}", f"evaluation/{p}-eval-{i}")
            if i != 2:  # a blocking evaluation gates the endpoint that serves its model
                edge(f"evaluation/{p}-eval-{i}", f"endpoint/{eps[i % 2]}")
        for i, e in enumerate(eps):
            docs.append(_endpoint(e, "team-serving", models[i], "gpu"))
            edge(f"model/{models[i]}", f"endpoint/{e}")
            edge("stack/gpu", f"endpoint/{e}")
        docs.append(
            _service(f"{p}-svc-0", f"team-product-{d % 20}", [f"endpoint/{eps[0]}", f"feature/{feats[1]}"], d % 4)
        )
        docs.append(_service(f"{p}-svc-1", f"team-product-{d % 20}", [f"endpoint/{eps[1]}"], (d + 1) % 4))
        edge(f"endpoint/{eps[0]}", f"service/{p}-svc-0")
        edge(f"feature/{feats[1]}", f"service/{p}-svc-0")
        edge(f"endpoint/{eps[1]}", f"service/{p}-svc-1")
        # one document per file for most domains, grouped files for the rest: both layouts occur in real repos
        if d % 2 == 0:
            for i, doc in enumerate(docs):
                files[f"domains/{p}/{i:02d}.yaml"] = [doc]
        else:
            files[f"domains/{p}.yaml"] = docs
        count += len(docs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "modelplane.yaml").write_text("name: synthetic\nspecs: ['**/*.yaml']\nenvironments:\n  prod: {}\n")
    for rel, docs in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n".join(docs))
    (out / ".gitignore").write_text(".modelplane/\n")
    return count


def downstream(edges: list[tuple[str, str]], start: str) -> list[str]:
    """Every node reachable from ``start`` along the declared edges, sorted (``start`` excluded)."""
    out: dict[str, list[str]] = {}
    for source, target in edges:
        out.setdefault(source, []).append(target)
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in out.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return sorted(seen - {start})


def change_upstream(out: Path) -> None:
    """Add a column to core-0 (a non-breaking upstream change that reaches many domains)."""
    path = out / "core/datasets.yaml"
    text = path.read_text()
    text = text.replace(
        "      - {name: value, type: string}\n",
        "      - {name: value, type: string}\n      - {name: source, type: string}\n",
        1,
    )
    path.write_text(text)


def _git(out: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=out, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--git", action="store_true", help="make the output a git repository with one commit")
    ap.add_argument("--change-upstream", action="store_true", help="then change a core dataset and commit")
    ap.add_argument("--expect", type=Path, help="write the expected downstream set of dataset/core-0 (JSON) here")
    args = ap.parse_args()
    edges: list[tuple[str, str]] = []
    n = generate(args.out, args.nodes, args.seed, edges)
    print(f"wrote {n} nodes to {args.out}")
    if args.expect:
        import json

        expected = downstream(edges, "dataset/core-0")
        args.expect.write_text(json.dumps({"changed": "dataset/core-0", "downstream": expected}, indent=1) + "\n")
        print(f"{len(expected)} nodes downstream of dataset/core-0 -> {args.expect}")
    if args.git:
        _git(args.out, "init", "-q", "-b", "main")
        _git(args.out, "add", "-A")
        _git(args.out, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "base")
        if args.change_upstream:
            change_upstream(args.out)
            _git(
                args.out,
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@example.com",
                "commit",
                "-qam",
                "change core-0",
            )
            print("committed an upstream change to dataset core-0 (compare with --base HEAD~1)")


if __name__ == "__main__":
    main()
