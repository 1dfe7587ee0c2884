"""EKS managed node groups for a stack's GPU pools (needs the `aws` extra: pulumi-aws).

Bridged ``aws.eks.NodeGroup`` on an existing cluster (settings: ``cluster_name``,
``subnet_ids``, optional ``node_role_arn``; a node role with the three managed
worker policies is created otherwise): the NVIDIA AL2023 AMI, the instance type
for the accelerator and GPUs per node, the GPU taint that only GPU workloads
tolerate, the pool label the Deployments select, and the pool's scaling bounds
(desired size left to the cluster autoscaler).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from modelplane.stacks.instances import ec2_instance
from modelplane.stacks.pools import GPU_TAINT, pool_labels
from modelplane.stacks.render import Rendered

WORKER_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)


def node_groups(rendered: Rendered, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    settings = rendered.settings
    role_arn: pulumi.Input[str]
    if settings.node_role_arn:
        role_arn = settings.node_role_arn
    else:
        role = aws.iam.Role(
            f"{rendered.stack}-gpu-nodes",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
            opts=opts,
        )  # fmt: skip
        for i, arn in enumerate(WORKER_POLICIES):
            aws.iam.RolePolicyAttachment(f"{rendered.stack}-gpu-nodes-{i}", role=role.name, policy_arn=arn, opts=opts)
        role_arn = role.arn
    out: list[pulumi.Resource] = []
    for pool in rendered.pools:
        out.append(
            aws.eks.NodeGroup(
                f"{rendered.stack}-{pool.name}",
                cluster_name=settings.cluster_name or rendered.stack,
                node_group_name=pool.name,
                node_role_arn=role_arn,
                subnet_ids=list(settings.subnet_ids),
                instance_types=[ec2_instance(pool)],
                ami_type="AL2023_x86_64_NVIDIA",
                capacity_type="SPOT" if pool.spot else "ON_DEMAND",
                disk_size=settings.node_disk_gib,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=pool.min_nodes,
                    desired_size=pool.min_nodes,
                    max_size=pool.max_nodes,
                ),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                labels=pool_labels(pool),
                taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT["key"], value=GPU_TAINT["value"],
                                                   effect="NO_SCHEDULE")],
                tags={"modelplane.dev/stack": rendered.stack, "modelplane.dev/pool": pool.name},
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(ignore_changes=["scalingConfig.desiredSize"])
                ),
            )
        )  # fmt: skip
    return out
