"""Cloud machine types for a GPU pool: (accelerator, GPUs per node) -> EKS instance type / GKE machine type."""

from __future__ import annotations

from modelplane.errors import ModelplaneError
from modelplane.specs.platform import GpuPool

EC2: dict[tuple[str, int], str] = {
    ("H100", 8): "p5.48xlarge",
    ("H200", 8): "p5e.48xlarge",
    ("B200", 8): "p6-b200.48xlarge",
    ("A100", 8): "p4de.24xlarge",
    ("A100-40GB", 8): "p4d.24xlarge",
    ("L40S", 1): "g6e.xlarge",
    ("L40S", 4): "g6e.12xlarge",
    ("L40S", 8): "g6e.48xlarge",
    ("L4", 1): "g6.xlarge",
    ("L4", 4): "g6.12xlarge",
    ("L4", 8): "g6.48xlarge",
    ("A10G", 1): "g5.xlarge",
    ("A10G", 4): "g5.12xlarge",
    ("T4", 1): "g4dn.xlarge",
}
GCE: dict[tuple[str, int], tuple[str, str]] = {
    # (machine type, guest accelerator type)
    ("L4", 1): ("g2-standard-8", "nvidia-l4"),
    ("L4", 2): ("g2-standard-24", "nvidia-l4"),
    ("L4", 4): ("g2-standard-48", "nvidia-l4"),
    ("L4", 8): ("g2-standard-96", "nvidia-l4"),
    ("A100", 8): ("a2-ultragpu-8g", "nvidia-a100-80gb"),
    ("A100-40GB", 8): ("a2-highgpu-8g", "nvidia-tesla-a100"),
    ("H100", 8): ("a3-highgpu-8g", "nvidia-h100-80gb"),
    ("T4", 1): ("n1-standard-8", "nvidia-tesla-t4"),
}
GCE_ACCELERATOR = {"L4": "nvidia-l4", "A100": "nvidia-a100-80gb", "A100-40GB": "nvidia-tesla-a100",
                   "H100": "nvidia-h100-80gb", "H200": "nvidia-h200-141gb", "T4": "nvidia-tesla-t4"}  # fmt: skip


def ec2_instance(pool: GpuPool) -> str:
    if pool.instance_type:
        return pool.instance_type
    key = (pool.accelerator, pool.gpus_per_node)
    if key not in EC2:
        raise ModelplaneError(
            f"gpu pool `{pool.name}`: no EC2 instance type known for {key[1]} x {key[0]}",
            hint="set `instance_type` on the pool",
        )
    return EC2[key]


def gce_machine(pool: GpuPool) -> tuple[str, str]:
    key = (pool.accelerator, pool.gpus_per_node)
    accel = GCE_ACCELERATOR.get(pool.accelerator)
    if pool.instance_type and accel:
        return pool.instance_type, accel
    if key not in GCE:
        raise ModelplaneError(
            f"gpu pool `{pool.name}`: no GCE machine type known for {key[1]} x {key[0]}",
            hint="set `instance_type` on the pool (and use an accelerator GKE offers)",
        )
    return GCE[key]
