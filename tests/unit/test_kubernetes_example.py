"""The Kubernetes example (examples/kubernetes/).

Renders it the way `kubectl apply -k` does for a plain kustomization (every file in
`resources`, each possibly holding several YAML documents), validates every document
against the Kubernetes API's OpenAPI schemas bundled with `kubernetes-validate`
(offline, strict: an unknown field fails), and checks the facts the README promises:
3 replicas, gRPC probes on 50051, a replica id per pod, PostgreSQL from a Secret, the
image the README builds.
"""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import kubernetes_validate
import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"
# A Kubernetes version whose schemas kubernetes-validate bundles (it falls back to an
# older one silently, so the tests check the version it reports back).
KUBERNETES_VERSION = "1.33.0"
NAMESPACE = "clusterlink"
GRPC_PORT = 50051
METRICS_PORT = 9464
SERVE_ARGS = [
    "serve",
    "--listen", f"0.0.0.0:{GRPC_PORT}",
    "--metrics-listen", f"0.0.0.0:{METRICS_PORT}",
    "--db", "$(DATABASE_URL)",
    "--secret-key-file", "/etc/clusterlink/secret.key",
    "--replica-id", "$(POD_NAME)",
]

Doc = dict[str, Any]


def _kustomization() -> Doc:
    return yaml.safe_load((EXAMPLE / "kustomization.yaml").read_text())


def _render() -> list[Doc]:
    docs: list[Doc] = []
    for name in _kustomization()["resources"]:
        docs.extend(doc for doc in yaml.safe_load_all((EXAMPLE / name).read_text()) if doc is not None)
    return docs


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return _render()


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _deployment(docs: list[Doc]) -> Doc:
    return _one(docs, "Deployment", "clusterlink")


def _container(workload: Doc, name: str) -> Doc:
    containers = workload["spec"]["template"]["spec"]["containers"]
    found = [c for c in containers if c["name"] == name]
    assert len(found) == 1, f"expected one container {name}"
    return found[0]


def _env(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def _secret_value(docs: list[Doc], name: str, key: str) -> str:
    secret = _one(docs, "Secret", name)
    if key in secret.get("stringData", {}):
        return secret["stringData"][key]
    return base64.b64decode(secret["data"][key]).decode()


def _secret_env_value(docs: list[Doc], env: Doc) -> str:
    ref = env["valueFrom"]["secretKeyRef"]
    return _secret_value(docs, ref["name"], ref["key"])


def _expand(value: str, variables: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in args (a reference to an undefined variable stays)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: variables.get(m.group(1), m.group(0)), value)


def _validate(doc: Doc, *, strict: bool = True) -> str:
    return kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=strict)


# -- the rendering -------------------------------------------------------------


def test_kustomization_lists_every_manifest_and_only_those():
    kustomization = _kustomization()
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    # Nothing that would change the manifests on the way (namespace, images, patches):
    # what these tests read is what `kubectl apply -k` applies.
    assert set(kustomization) == {"apiVersion", "kind", "resources"}
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "a resource is listed twice"
    on_disk = {p.name for p in EXAMPLE.iterdir() if p.suffix in (".yaml", ".yml")} - {"kustomization.yaml"}
    assert set(resources) == on_disk, (
        f"not listed in kustomization.yaml: {sorted(on_disk - set(resources))}; "
        f"listed but missing: {sorted(set(resources) - on_disk)}"
    )


def test_the_example_has_the_objects_the_readme_names(docs: list[Doc]):
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == sorted([
        ("Namespace", "clusterlink"),
        ("Secret", "clusterlink-db"),
        ("Secret", "clusterlink-secret-key"),
        ("Service", "postgres"),
        ("StatefulSet", "postgres"),
        ("Deployment", "clusterlink"),
        ("Service", "clusterlink"),
        ("PodDisruptionBudget", "clusterlink"),
    ])
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']} {doc['metadata']['name']}"


# -- schemas -------------------------------------------------------------------


def test_every_document_is_valid_against_the_kubernetes_schemas(docs: list[Doc]):
    assert docs
    for doc in docs:
        where = f"{doc['kind']} {doc['metadata']['name']}"
        try:
            validated = _validate(doc)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{where} is not valid Kubernetes {KUBERNETES_VERSION}: {path}: {exc.message}")
        assert validated == "1.33", f"{where} was validated against Kubernetes {validated}"


def test_an_unknown_field_fails_validation(docs: list[Doc]):
    broken = copy.deepcopy(_deployment(docs))
    container = _container(broken, "clusterlink")
    container["readinesProbe"] = container.pop("readinessProbe")  # a typo kubectl would reject
    with pytest.raises(kubernetes_validate.ValidationError) as caught:
        _validate(broken)
    assert "readinesProbe" in caught.value.message
    # Strict mode is what catches it: the lenient schemas let unknown fields through.
    assert _validate(broken, strict=False) == "1.33"

    nested = copy.deepcopy(_deployment(docs))
    _container(nested, "clusterlink")["livenessProbe"]["grpc"]["portName"] = "grpc"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(nested)


# -- the ClusterLink Deployment ------------------------------------------------


def test_deployment_runs_three_replicas_of_serve_with_a_replica_id_per_pod(docs: list[Doc]):
    deployment = _deployment(docs)
    assert deployment["spec"]["replicas"] == 3
    container = _container(deployment, "clusterlink")
    assert container["args"] == SERVE_ARGS
    args = container["args"]
    assert args[args.index("--replica-id") + 1] == "$(POD_NAME)"
    assert "command" not in container, "the image's entrypoint is clusterlink"
    env = _env(container)
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "value" not in env["POD_NAME"]


def test_database_url_is_postgresql_from_a_secret_and_matches_the_database(docs: list[Doc]):
    container = _container(_deployment(docs), "clusterlink")
    database_url = _env(container)["DATABASE_URL"]
    assert "value" not in database_url, "the URL holds a password: it comes from a Secret"
    assert set(database_url["valueFrom"]) == {"secretKeyRef"}
    url = urlsplit(_secret_env_value(docs, database_url))
    assert url.scheme == "postgresql", "more than one replica needs PostgreSQL, not SQLite"

    # The URL points at the PostgreSQL of the example, with its user, database and password.
    service = _one(docs, "Service", "postgres")
    assert url.hostname in {"postgres", f"postgres.{NAMESPACE}", f"postgres.{NAMESPACE}.svc",
                            f"postgres.{NAMESPACE}.svc.cluster.local"}
    assert url.port in [p["port"] for p in service["spec"]["ports"]]
    postgres = _container(_one(docs, "StatefulSet", "postgres"), "postgres")
    pg_env = _env(postgres)
    assert unquote(url.username or "") == pg_env["POSTGRES_USER"]["value"]
    assert url.path.lstrip("/") == pg_env["POSTGRES_DB"]["value"]
    assert unquote(url.password or "") == _secret_env_value(docs, pg_env["POSTGRES_PASSWORD"])


def test_secrets_are_marked_as_placeholders(docs: list[Doc]):
    for name, key in [("clusterlink-db", "POSTGRES_PASSWORD"), ("clusterlink-db", "DATABASE_URL"),
                      ("clusterlink-secret-key", "secret.key")]:
        assert "REPLACE" in _secret_value(docs, name, key), f"{name}/{key} is not marked as a placeholder"


def test_probes_are_grpc_health_checks_on_the_api_port(docs: list[Doc]):
    container = _container(_deployment(docs), "clusterlink")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert probe in container, probe
        handler = {k: v for k, v in container[probe].items() if k in ("grpc", "httpGet", "tcpSocket", "exec")}
        # The empty service name: the overall health of grpc.health.v1.
        assert handler == {"grpc": {"port": GRPC_PORT}}, probe


def test_ports_secret_key_and_security(docs: list[Doc]):
    deployment = _deployment(docs)
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment, "clusterlink")
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"grpc": GRPC_PORT, "metrics": METRICS_PORT}
    assert pod["terminationGracePeriodSeconds"] == 30
    assert container["resources"]["requests"] and container["resources"]["limits"]

    # Non-root, read-only root filesystem, /tmp writable.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]

    # --secret-key-file is the mounted key of the Secret.
    key_file = Path(SERVE_ARGS[SERVE_ARGS.index("--secret-key-file") + 1])
    mount = mounts[str(key_file.parent)]
    source = volumes[mount["name"]]["secret"]
    items = {i["path"]: i["key"] for i in source["items"]}
    assert _secret_value(docs, source["secretName"], items[key_file.name])

    # Prefer spreading the replicas over nodes.
    spread = pod.get("topologySpreadConstraints", [])
    anti = pod.get("affinity", {}).get("podAntiAffinity", {})
    assert any(c["topologyKey"] == "kubernetes.io/hostname" for c in spread) or anti


def test_service_and_pdb_select_the_clusterlink_pods(docs: list[Doc]):
    deployment = _deployment(docs)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container_ports = {p["name"]: p["containerPort"] for p in _container(deployment, "clusterlink")["ports"]}

    service = _one(docs, "Service", "clusterlink")
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert set(ports) == {"grpc", "metrics"}
    for name, port in ports.items():
        target = port.get("targetPort", port["port"])
        assert container_ports.get(target, target) == container_ports[name]
    assert ports["grpc"]["port"] == GRPC_PORT and ports["metrics"]["port"] == METRICS_PORT

    pdb = _one(docs, "PodDisruptionBudget", "clusterlink")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_postgres_statefulset(docs: list[Doc]):
    statefulset = _one(docs, "StatefulSet", "postgres")
    service = _one(docs, "Service", "postgres")
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    container = _container(statefulset, "postgres")
    assert container["image"] == "postgres:16"
    assert container["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    claims = {c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]}
    assert {m["name"] for m in container["volumeMounts"]} <= claims
    assert set(_env(container)["POSTGRES_PASSWORD"]["valueFrom"]) == {"secretKeyRef"}


# -- the image -----------------------------------------------------------------


def test_deployment_image_is_the_one_the_readme_builds(docs: list[Doc]):
    readme = (EXAMPLE / "README.md").read_text()
    built = re.findall(r"docker build -f examples/kubernetes/Dockerfile -t (\S+) \.", readme)
    assert built, "the README shows no docker build command for examples/kubernetes/Dockerfile"
    assert len(set(built)) == 1
    assert _container(_deployment(docs), "clusterlink")["image"] == built[0]


def test_dockerfile_builds_from_python_slim_with_pip_install_of_the_repo(docs: list[Doc]):
    dockerfile = (EXAMPLE / "Dockerfile").read_text()
    instructions = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    # Only the base image comes from a registry other than PyPI (no `# syntax=` frontend either).
    bases = [line.split()[1] for line in instructions if line.upper().startswith("FROM ")]
    assert bases and all(b == "python:3.11-slim" for b in bases), bases
    assert not re.search(r"^#\s*syntax\s*=", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert not re.search(r"\b(curl|wget|ADD)\b", "\n".join(instructions))
    assert any("pip install ." in line for line in instructions)
    assert 'ENTRYPOINT ["clusterlink"]' in instructions
    user = [line.split()[1] for line in instructions if line.startswith("USER ")]
    run_as = _deployment(docs)["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert user and user[-1].split(":")[0] == str(run_as), "the image's user is the pod's runAsUser"


# -- the CLI -------------------------------------------------------------------


def test_serve_accepts_the_deployment_args(docs: list[Doc]):
    """The args, with $(VAR) expanded as the kubelet does, parse with the real `clusterlink serve`."""
    from clusterlink.cli.main import build_parser

    container = _container(_deployment(docs), "clusterlink")
    variables = {"POD_NAME": "clusterlink-7d9f8b6c4-x2x9q",
                 "DATABASE_URL": _secret_env_value(docs, _env(container)["DATABASE_URL"])}
    argv = [_expand(a, variables) for a in container["args"]]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`clusterlink {' '.join(container['args'])}` does not parse (exit {exc.code}); see stderr")
    assert args.command == "serve"
    assert args.db == variables["DATABASE_URL"]
    assert args.replica_id == variables["POD_NAME"]
    assert args.secret_key_file == "/etc/clusterlink/secret.key"
