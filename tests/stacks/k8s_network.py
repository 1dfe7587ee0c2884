"""A small model of Kubernetes networking, enough to say whether a rendered request arrives.

No cluster runs here, so the render's reachability is proved on this model of what kube-proxy, CoreDNS and the
kubelet do with the objects:

- a Deployment stands for its pods: the template's labels and containers, in the Deployment's namespace;
- a container *listens* where its process does, not where ``containerPort`` says: ``vllm serve`` on ``--host``
  (all interfaces by default) and ``--port`` (8000 by default); Envoy on the listeners and the admin address of
  the bootstrap it is started with (``-c PATH``, read from the ConfigMap mounted there); anything else on its
  declared container ports;
- DNS: ``NAME.NS.svc.cluster.local`` (or ``NAME.NS``, or ``NAME`` from the same namespace) of a Service with a
  cluster IP is that one virtual IP; of a headless Service (``clusterIP: None``) it is the IP of every pod its
  selector matches. A headless Service maps no ports: a connection goes to the pod IP at the port dialled;
- a connection to a cluster IP must use one of the Service's ``port``s, and kube-proxy forwards it to each
  selected pod at ``targetPort`` (a number, or a container port *name* looked up in that pod; absent: ``port``);
- a connection to a pod IP arrives when a container of the pod listens on that port at an address other than
  loopback (the kubelet's probes and Prometheus' scrapes dial the pod IP too).

``Unreachable`` says, in words, which of these steps fails.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import yaml


class Unreachable(AssertionError):
    """A request would not arrive; the message says at which step."""


@dataclass(frozen=True)
class Listen:
    address: str
    port: int

    @property
    def from_outside(self) -> bool:
        """Reachable at the pod IP (not bound to loopback only)."""
        try:
            return not ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return self.address != "localhost"


@dataclass
class Container:
    name: str
    ports: dict[str, int]
    """Named container ports (what a named targetPort or probe port resolves to)."""
    listens: list[Listen]
    raw: dict[str, Any]

    def listening(self, port: int) -> Listen | None:
        return next((lst for lst in self.listens if lst.port == port), None)


@dataclass
class Pod:
    deployment: str
    namespace: str
    labels: dict[str, str]
    containers: list[Container]
    annotations: dict[str, str] = field(default_factory=dict)

    def named_port(self, name: str) -> int | None:
        return next((c.ports[name] for c in self.containers if name in c.ports), None)

    def accept(self, port: int, what: str) -> Container:
        """The container a connection to this pod's IP at ``port`` arrives at, or Unreachable."""
        for c in self.containers:
            lst = c.listening(port)
            if lst is not None:
                if not lst.from_outside:
                    raise Unreachable(f"{what}: container {c.name} of {self.deployment} listens on {port} at "
                                      f"{lst.address} only (loopback: not reachable at the pod IP)")  # fmt: skip
                return c
        listening = sorted({(lst.address, lst.port) for c in self.containers for lst in c.listens})
        raise Unreachable(f"{what}: no container of {self.deployment} listens on port {port} (listening: {listening})")


@dataclass
class Service:
    name: str
    namespace: str
    headless: bool
    selector: dict[str, str]
    ports: list[dict[str, Any]]


@dataclass
class Network:
    objects: list[dict[str, Any]]
    pods: list[Pod] = field(default_factory=list)
    services: dict[tuple[str, str], Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        configmaps = {
            (o["metadata"]["namespace"], o["metadata"]["name"]): o for o in self.objects if o["kind"] == "ConfigMap"
        }
        for o in self.objects:
            md = o["metadata"]
            if o["kind"] == "Deployment":
                tpl = o["spec"]["template"]
                spec = tpl["spec"]
                containers = [_container(c, spec, md["namespace"], configmaps) for c in spec["containers"]]
                annotations = tpl["metadata"].get("annotations", {})
                self.pods.append(Pod(md["name"], md["namespace"], tpl["metadata"]["labels"], containers, annotations))
            elif o["kind"] == "Service":
                s = o["spec"]
                self.services[(md["namespace"], md["name"])] = Service(
                    md["name"], md["namespace"], s.get("clusterIP") == "None", s.get("selector", {}), s.get("ports", [])
                )

    def selected(self, svc: Service) -> list[Pod]:
        if not svc.selector:
            raise Unreachable(f"Service {svc.name} has no selector: no endpoints are made for it")
        pods = [
            p for p in self.pods
            if p.namespace == svc.namespace and all(p.labels.get(k) == v for k, v in svc.selector.items())
        ]  # fmt: skip
        if not pods:
            raise Unreachable(f"Service {svc.name}'s selector {svc.selector} matches no pod")
        return pods

    def service_for(self, host: str, namespace: str) -> Service:
        parts = host.removesuffix(".svc.cluster.local").removesuffix(".svc").split(".")
        name, ns = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], namespace) if len(parts) == 1 else ("", "")
        svc = self.services.get((ns, name))
        if svc is None:
            raise Unreachable(f"DNS: {host} does not resolve (no Service {name} in namespace {ns})")
        return svc

    def connect(self, host: str, port: int, namespace: str, what: str) -> list[tuple[Pod, Container]]:
        """Where a connection to ``host:port`` from a pod in ``namespace`` arrives: every (pod, container) it can
        reach (headless: any of the resolved pod IPs; cluster IP: any pod kube-proxy forwards to)."""
        svc = self.service_for(host, namespace)
        pods = self.selected(svc)
        if svc.headless:
            return [(p, p.accept(port, f"{what} (headless {svc.name} -> pod IP:{port})")) for p in pods]
        entry = next((sp for sp in svc.ports if sp["port"] == port), None)
        if entry is None:
            raise Unreachable(f"{what}: Service {svc.name} has no port {port} "
                              f"(its ports: {[sp['port'] for sp in svc.ports]})")  # fmt: skip
        target = entry.get("targetPort", port)
        out = []
        for p in pods:
            number = p.named_port(target) if isinstance(target, str) else target
            if number is None:
                raise Unreachable(f"{what}: Service {svc.name} targets port name {target!r}, "
                                  f"which no container of {p.deployment} declares")  # fmt: skip
            out.append((p, p.accept(number, f"{what} ({svc.name}:{port} -> targetPort {number})")))
        return out


def _container(c: dict[str, Any], pod_spec: dict[str, Any], namespace: str, configmaps: dict[Any, Any]) -> Container:
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
    args = [*c.get("command", []), *c.get("args", [])]
    if args[:2] == ["vllm", "serve"]:
        host = _flag(args, "--host") or "0.0.0.0"
        listens = [Listen(host, int(_flag(args, "--port") or 8000))]
    elif "envoy" in c.get("image", ""):
        listens = _envoy_listens(_flag(args, "-c") or "", c, pod_spec, namespace, configmaps)
    else:
        listens = [Listen("0.0.0.0", p["containerPort"]) for p in c.get("ports", [])]
    return Container(c["name"], ports, listens, c)


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def envoy_bootstrap(
    path: str, c: dict[str, Any], pod_spec: dict[str, Any], namespace: str, configmaps: dict[Any, Any]
) -> dict[str, Any]:
    """The bootstrap Envoy reads at ``path``: the ConfigMap key mounted there."""
    for m in c.get("volumeMounts", []):
        prefix = m["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            vol = next(v for v in pod_spec["volumes"] if v["name"] == m["name"])
            cm = configmaps.get((namespace, vol["configMap"]["name"]))
            if cm is None:
                raise Unreachable(
                    f"Envoy's config {path} comes from ConfigMap {vol['configMap']['name']}, not rendered"
                )
            doc: dict[str, Any] = yaml.safe_load(cm["data"][path.removeprefix(prefix)])
            return doc
    raise Unreachable(f"Envoy is started with -c {path}, which no volume is mounted at")


def _envoy_listens(
    path: str, c: dict[str, Any], pod_spec: dict[str, Any], namespace: str, configmaps: dict[Any, Any]
) -> list[Listen]:
    boot = envoy_bootstrap(path, c, pod_spec, namespace, configmaps)
    addresses = [lst["address"]["socket_address"] for lst in boot["static_resources"]["listeners"]]
    if "admin" in boot:
        addresses.append(boot["admin"]["address"]["socket_address"])
    return [Listen(a["address"], int(a["port_value"])) for a in addresses]
