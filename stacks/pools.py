"""What a GPU node pool carries on any cloud: the labels Deployments select and the taint only GPU
workloads tolerate. Plain data, shared by the EKS and GKE node-pool programs."""

from __future__ import annotations

from modelplane.specs.platform import GpuPool
from modelplane.stacks.render import GPU, POOL_LABEL


def pool_labels(pool: GpuPool) -> dict[str, str]:
    return {
        POOL_LABEL: pool.name,
        "modelplane.dev/accelerator": pool.accelerator,
        "modelplane.dev/gpus-per-node": str(pool.gpus_per_node),
    }


GPU_TAINT = {"key": GPU, "value": "present", "effect": "NoSchedule"}
