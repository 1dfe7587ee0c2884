"""GKE node pools for a stack's GPU pools (needs the `gcp` extra: pulumi-gcp).

Each pool: the machine type and guest accelerators for the accelerator and GPUs
per node, with GKE installing the NVIDIA driver (``gpu_driver_installation_config``),
the GPU taint, the pool label, autoscaling between the pool's bounds, and
spot VMs where the pool asks.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from modelplane.stacks.instances import gce_machine
from modelplane.stacks.pools import GPU_TAINT, pool_labels
from modelplane.stacks.render import Rendered


def node_pools(rendered: Rendered, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    settings = rendered.settings
    out: list[pulumi.Resource] = []
    for pool in rendered.pools:
        machine, accelerator = gce_machine(pool)
        out.append(
            gcp.container.NodePool(
                f"{rendered.stack}-{pool.name}",
                name=pool.name,
                cluster=settings.cluster_name or rendered.stack,
                location=str(rendered.region),
                initial_node_count=pool.min_nodes,
                autoscaling=gcp.container.NodePoolAutoscalingArgs(
                    min_node_count=pool.min_nodes, max_node_count=pool.max_nodes
                ),
                management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
                node_config=gcp.container.NodePoolNodeConfigArgs(
                    machine_type=machine,
                    spot=pool.spot,
                    guest_accelerators=[
                        gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                            type=accelerator,
                            count=pool.gpus_per_node,
                            gpu_driver_installation_config=(
                                gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                                    gpu_driver_version="LATEST"
                                )
                            ),
                        )
                    ],
                    labels=pool_labels(pool),
                    taints=[gcp.container.NodePoolNodeConfigTaintArgs(
                        key=GPU_TAINT["key"], value=GPU_TAINT["value"], effect="NO_SCHEDULE")],
                    oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                ),
                opts=opts,
            )
        )  # fmt: skip
    return out
