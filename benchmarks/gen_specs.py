"""Generate a synthetic spec repository of N nodes shaped like an ML platform.

Each "domain" holds raw and derived datasets, features, a training workflow,
models, evaluations, endpoints and consuming services; a few shared core
datasets feed many domains, so changing one has a realistic blast radius.

    python benchmarks/gen_specs.py --nodes 10000 --out /tmp/mp10k [--git]

With --git the output becomes a git repository with one commit; then
``--change-upstream`` edits a core dataset and commits again (for ``plan --base HEAD~1``).
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


def generate(out: Path, nodes: int, seed: int = 7) -> int:
    rng = random.Random(seed)
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
        derived_ds = [f"{p}-clean-{i}" for i in range(4)]
        for i, name in enumerate(derived_ds):
            docs.append(_dataset(name, team, cols, [raw[i], raw[i + 1]]))
        feats = [f"{p}-feat-{i}" for i in range(4)]
        for i, name in enumerate(feats):
            docs.append(_feature(name, team, derived_ds[i], ["user_id", "value"]))
        wf = f"{p}-train"
        models = [f"{p}-model-{i}" for i in range(2)]
        docs.append(
            _workflow(wf, team, [f"dataset/{derived_ds[0]}", f"feature/{feats[0]}"], [f"model/{m}" for m in models])
        )
        for i, m in enumerate(models):
            docs.append(_model(m, team, [derived_ds[i]], [feats[i], feats[i + 2]], wf, 0.5 + i))
        for i in range(3):
            docs.append(_evaluation(f"{p}-eval-{i}", team, models[i % 2], derived_ds[3], i != 2))
        eps = [f"{p}-ep-{i}" for i in range(2)]
        for i, e in enumerate(eps):
            docs.append(_endpoint(e, "team-serving", models[i], "gpu"))
        docs.append(
            _service(f"{p}-svc-0", f"team-product-{d % 20}", [f"endpoint/{eps[0]}", f"feature/{feats[1]}"], d % 4)
        )
        docs.append(_service(f"{p}-svc-1", f"team-product-{d % 20}", [f"endpoint/{eps[1]}"], (d + 1) % 4))
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
    args = ap.parse_args()
    n = generate(args.out, args.nodes, args.seed)
    print(f"wrote {n} nodes to {args.out}")
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
