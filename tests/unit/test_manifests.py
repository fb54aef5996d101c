"""deploy/k8s checked offline, with no cluster: each operator resource against its CRD's schema (the
Flink Kubernetes Operator's API jar, fetched by scripts/bootstrap.sh), each built-in kind against
Kubernetes' own schemas (kubernetes-validate), and the wiring between them and the project: ports,
addresses, images, Flink settings, and the flags `spectator run` is given. What this cannot check
(a real cluster, the images, the operator at work) is listed in docs/kubernetes.md."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import kubernetes_validate
import pytest
import yaml
from apache_beam.options.pipeline_options import FlinkRunnerOptions, PortableOptions

from services.base import beam_version, cache_dir
from services.flink.build import FLINK_MINOR, FLINK_VERSION
from services.flink.cluster import CONF_TEMPLATE, JAVA_OPENS
from spectator.flink.submit import _complete
from spectator.pipeline.options import SpectatorOptions, parse_options

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
DOCKER = ROOT / "deploy" / "docker"
KUSTOMIZE_FILES = {"kustomization.yaml", "kustomizeconfig.yaml"}
# The oldest Kubernetes the manifests are meant for, and the newest the schemas know.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
PROJECT_VERSION = re.search(r'^\s*version="([^"]+)"', (ROOT / "setup.py").read_text(), re.M)[1]
IMAGES = {
    "flink": f"spectator-flink:{FLINK_VERSION}-beam{beam_version()}",
    "python": f"spectator-python:{PROJECT_VERSION}-beam{beam_version()}",
}
LOOPBACK = {"127.0.0.1", "localhost"}
FLINK_REST_PORT = 8081  # Flink's default rest.port; the FlinkDeployment does not change it


# ---------------------------------------------------------------- loading


def crd_dir() -> Path:
    return cache_dir() / "k8s" / "crds"


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name not in KUSTOMIZE_FILES)


def load_manifests() -> list[tuple[str, dict]]:
    """(file name, object) for every object in deploy/k8s."""
    return [(path.name, doc) for path in manifest_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


MANIFESTS = load_manifests()


def objects(kind: str) -> list[dict]:
    return [doc for _, doc in MANIFESTS if doc["kind"] == kind]


def the(kind: str, name: str) -> dict:
    (found,) = [doc for doc in objects(kind) if doc["metadata"]["name"] == name]
    return found


def label(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def load_crd_schemas() -> dict[tuple[str, str], dict]:
    """{(apiVersion, kind): schema} for every served version of every CRD in the cache."""
    files = sorted(crd_dir().glob("*.yml"))
    if not files:
        pytest.fail(
            f"the Flink Kubernetes Operator's CRDs are missing from {crd_dir()}: run scripts/bootstrap.sh",
            pytrace=False,
        )
    schemas = {}
    for path in files:
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                api_version = f"{spec['group']}/{version['name']}"
                kind, schema = spec["names"]["kind"], version["schema"]["openAPIV3Schema"]
                schemas[(api_version, kind)] = strict_resource(schema, api_version, kind)
    return schemas


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], dict]:
    return load_crd_schemas()


def strict_resource(schema: dict, api_version: str, kind: str) -> dict:
    """The CRD's schema as the API server applies it with kubectl's default strict field validation:
    an unknown field is an error (the fabric8-generated schemas never say so themselves), and
    apiVersion, kind and metadata, which Kubernetes adds to every CRD, are checked too."""

    def strict(node):
        if isinstance(node, dict):
            node = {key: strict(value) for key, value in node.items()}
            if "properties" in node and "additionalProperties" not in node:
                if not node.get("x-kubernetes-preserve-unknown-fields"):
                    node["additionalProperties"] = False
            return node
        if isinstance(node, list):
            return [strict(item) for item in node]
        return node

    strings = {"type": "object", "additionalProperties": {"type": "string"}}
    metadata = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            "namespace": {"type": "string"},
            "labels": strings,
            "annotations": strings,
        },
        "additionalProperties": False,
    }
    resource = strict(schema)
    resource["properties"] = {
        "apiVersion": {"const": api_version},
        "kind": {"const": kind},
        "metadata": metadata,
        **resource["properties"],
    }
    resource["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return resource


def crd_errors(doc: dict, schemas: dict[tuple[str, str], dict]) -> list[str]:
    schema = schemas.get((doc.get("apiVersion"), doc.get("kind")))
    if schema is None:
        return [f"no CRD of the operator defines {doc.get('apiVersion')} {doc.get('kind')}"]
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(doc)]


def is_operator_kind(doc: dict) -> bool:
    return doc["apiVersion"].startswith("flink.apache.org/")


def builtin_error(doc: dict, version: str) -> str | None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
    except kubernetes_validate.SchemaNotFoundError:
        return f"Kubernetes {version} has no {doc['apiVersion']} {doc['kind']}"
    return None


def pod_specs(doc: dict) -> list[dict]:
    """Every pod spec a workload holds (a FlinkDeployment: the JobManager's and the TaskManagers')."""
    spec = doc.get("spec", {})
    if doc["kind"] == "FlinkDeployment":
        return [spec[role]["podTemplate"]["spec"] for role in ("jobManager", "taskManager")]
    if doc["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [spec["template"]["spec"]]
    return []


def containers(doc: dict) -> list[dict]:
    return [c for pod in pod_specs(doc) for c in [*pod.get("initContainers", []), *pod["containers"]]]


def container(doc: dict, name: str) -> dict:
    (found,) = [c for c in containers(doc) if c["name"] == name]
    return found


def flag(args: list[str], name: str) -> str:
    """The value of `--name=VALUE` or `--name VALUE` in a command line."""
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    raise AssertionError(f"{name} missing from {args}")


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


# ---------------------------------------------------------------- schemas


def test_the_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]
    for name in kustomization.get("configurations", []):
        assert (K8S / name).is_file()


def test_every_object_is_namespaced_in_spectator_with_a_unique_name():
    seen = set()
    for file, doc in MANIFESTS:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), f"{file}: {label(doc)}"
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"{file}: a second {label(doc)}"
        seen.add(key)
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "spectator", f"{file}: {label(doc)} outside the namespace"
    assert ("Namespace", "spectator") in seen


def test_the_cluster_runs_the_local_clusters_flink():
    # The Beam runner in the job server jar is built for this Flink minor (docs/flink.md).
    assert the("FlinkDeployment", "spectator-flink")["spec"]["flinkVersion"] == "v" + FLINK_MINOR.replace(".", "_")


def test_the_operator_resources_match_their_crds(crd_schemas):
    assert ("flink.apache.org/v1beta1", "FlinkDeployment") in crd_schemas
    operator_docs = [(file, doc) for file, doc in MANIFESTS if is_operator_kind(doc)]
    assert [doc["kind"] for _, doc in operator_docs] == ["FlinkDeployment"]
    for file, doc in operator_docs:
        assert crd_errors(doc, crd_schemas) == [], f"{file}: {label(doc)}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_builtin_kinds_match_the_kubernetes_schemas(version):
    builtins = [(file, doc) for file, doc in MANIFESTS if not is_operator_kind(doc)]
    assert {doc["kind"] for _, doc in builtins} >= {"Deployment", "Service", "ConfigMap", "Secret", "CronJob"}
    errors = [f"{file}: {label(doc)}: {error}" for file, doc in builtins if (error := builtin_error(doc, version))]
    assert errors == []


def _flink_deployment() -> dict:
    return copy.deepcopy(the("FlinkDeployment", "spectator-flink"))


def _sidecar(doc: dict) -> dict:
    return doc["spec"]["taskManager"]["podTemplate"]["spec"]["containers"][1]


BROKEN_FLINK_DEPLOYMENTS = {
    "a Flink version the operator does not know": lambda d: d["spec"].update(flinkVersion="v1_21"),
    "a misspelt field": lambda d: d["spec"]["taskManager"].update(replica=2),
    "a Flink setting that is not a string": lambda d: d["spec"]["flinkConfiguration"].update(
        {"taskmanager.numberOfTaskSlots": 2}
    ),
    "a port that is not a number": lambda d: _sidecar(d)["ports"][0].update(containerPort="50000"),
    "a mode that does not exist": lambda d: d["spec"].update(mode="session"),
    "no name": lambda d: d["metadata"].pop("name"),
}


@pytest.mark.parametrize("case", BROKEN_FLINK_DEPLOYMENTS)
def test_the_crd_check_rejects_a_broken_flink_deployment(crd_schemas, case):
    doc = _flink_deployment()
    assert crd_errors(doc, crd_schemas) == []
    BROKEN_FLINK_DEPLOYMENTS[case](doc)
    assert crd_errors(doc, crd_schemas) != []


BROKEN_BUILTINS = {
    "a port that is not a number": lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(
        containerPort="8099"
    ),
    "a misspelt field": lambda d: d["spec"]["template"]["spec"]["containers"][0].update(comand=["java"]),
    "no selector": lambda d: d["spec"].pop("selector"),
}


@pytest.mark.parametrize("case", BROKEN_BUILTINS)
def test_the_kubernetes_check_rejects_a_broken_deployment(case):
    doc = copy.deepcopy(the("Deployment", "spectator-beam-job-server"))
    assert builtin_error(doc, KUBERNETES_VERSIONS[0]) is None
    BROKEN_BUILTINS[case](doc)
    assert builtin_error(doc, KUBERNETES_VERSIONS[0]) is not None


def test_missing_crds_fail_with_one_line_that_says_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setenv("SPECTATOR_CACHE", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"CRDs are missing from .*: run scripts/bootstrap.sh$"):
        load_crd_schemas()


# ---------------------------------------------------------------- wiring


def selected(service: dict) -> list[dict]:
    """The Deployments whose pods a Service selects."""
    wanted = service["spec"]["selector"].items()
    return [doc for doc in objects("Deployment") if wanted <= doc["spec"]["template"]["metadata"]["labels"].items()]


def test_every_service_reaches_a_container_port():
    for service in objects("Service"):
        pods = selected(service)
        assert len(pods) == 1, f"{label(service)} selects {len(pods)} Deployments"
        ports = [p for c in containers(pods[0]) for p in c.get("ports", [])]
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert any(target in (p.get("name"), p["containerPort"]) for p in ports), f"{label(service)}: {port}"


def _service_port(address: str) -> tuple[dict, int]:
    """The Deployment behind HOST:PORT, a Service of the manifests, and the container port it reaches."""
    host, port = host_port(address)
    service = the("Service", host)
    (entry,) = [p for p in service["spec"]["ports"] if p["port"] == port]
    (deployment,) = selected(service)
    ports = [p for c in containers(deployment) for p in c.get("ports", [])]
    (target,) = [p for p in ports if entry["targetPort"] in (p.get("name"), p["containerPort"])]
    return deployment, target["containerPort"]


def _submit_argv() -> list[str]:
    """The submit Job's `spectator run` flags, with $(VAR) expanded from its env as the kubelet does."""
    submit = container(the("CronJob", "spectator-submit"), "submit")
    assert submit["command"] == ["spectator", "run"]
    env = {}
    for source in submit.get("envFrom", []):
        env.update(the("ConfigMap", source["configMapRef"]["name"])["data"])
    for var in submit.get("env", []):
        ref = var["valueFrom"]["secretKeyRef"]
        env[var["name"]] = the("Secret", ref["name"])["stringData"][ref["key"]]
    expanded = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m[1]], arg) for arg in submit["args"]]
    assert not [arg for arg in expanded if "$(" in arg]
    return expanded


def test_spectator_run_accepts_the_submission_and_it_reaches_every_piece():
    options = parse_options(_submit_argv())  # the project's own, strict parsing: an unknown flag fails
    _complete(options)  # the FlinkRunner's defaults and refusals, short of connecting
    flink, portable = options.view_as(FlinkRunnerOptions), options.view_as(PortableOptions)
    cluster = the("FlinkDeployment", "spectator-flink")
    assert flink.flink_master == f"{cluster['metadata']['name']}-rest:{FLINK_REST_PORT}"

    job_server, port = _service_port(portable.job_endpoint)
    args = container(job_server, "job-server")["args"]
    assert port == int(flag(args, "--job-port"))
    assert flag(args, "--flink-master") == flink.flink_master
    # The job server names its artifact service by --job-host (0.0.0.0 here): the client must be told.
    assert _service_port(portable.artifact_endpoint) == (job_server, int(flag(args, "--artifact-port")))

    expansion, port = _service_port(options.view_as(SpectatorOptions).expansion_service)
    args = container(expansion, "expansion-service")["args"]
    assert port == int(args[0])
    assert {"--defaultEnvironmentType=EMBEDDED", "--experiments=use_deprecated_read"} <= set(args)

    # The Python steps: the worker pool beside each TaskManager, on the pod's loopback.
    assert portable.environment_type == "EXTERNAL"
    host, port = host_port(portable.environment_config)
    pool = container(cluster, "python-worker-pool")
    assert pool["command"] == ["python", "-m", "spectator.flink.worker_pool"]
    assert host in LOOPBACK and flag(pool["args"], "--host") in LOOPBACK
    assert port == int(flag(pool["args"], "--port"))
    assert [p["containerPort"] for p in pool["ports"]] == [port]
    taskmanager = cluster["spec"]["taskManager"]["podTemplate"]["spec"]["containers"]
    assert pool in taskmanager and "flink-main-container" in [c["name"] for c in taskmanager]

    # Enough task slots for the job, or `spectator run` refuses to submit it.
    conf = cluster["spec"]["flinkConfiguration"]
    slots = int(conf["taskmanager.numberOfTaskSlots"]) * cluster["spec"]["taskManager"]["replicas"]
    assert slots >= max(flink.parallelism, int(conf["parallelism.default"]))

    redis = urlparse(options.view_as(SpectatorOptions).redis_url)
    assert redis.scheme in ("redis", "rediss") and redis.port and redis.hostname not in LOOPBACK


def _local_flink_config() -> dict[str, str]:
    """services/flink/config.yaml.in as flat keys, without the settings that services/flink/cluster.py
    fills in (@NAME@: ports, addresses, folders, sizes, JAVA_OPENS)."""
    text = re.sub(r"@([A-Z_]+)@", r"UNSET-\1", CONF_TEMPLATE.read_text())

    def flat(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            elif "UNSET-" not in str(value):
                yield f"{prefix}{key}", str(value).lower() if isinstance(value, bool) else str(value)

    return dict(flat(yaml.safe_load(text)))


# Set in both, deliberately different on Kubernetes.
DIFFERENT_FROM_LOCAL = {"high-availability.type"}  # a restarted JobManager pod recovers its jobs


def test_flink_settings_agree_with_the_local_cluster():
    conf = the("FlinkDeployment", "spectator-flink")["spec"]["flinkConfiguration"]
    local = _local_flink_config()
    for key in [
        "classloader.resolve-order",  # with the job server jar in lib/
        "state.backend.type",
        "state.backend.incremental",
        "state.checkpoints.num-retained",
        "execution.checkpointing.externalized-checkpoint-retention",  # spectator run resumes from these
        "jobstore.expiration-time",
        "restart-strategy.type",
    ]:
        assert key in conf and key in local, key
    differing = {key for key in conf.keys() & local.keys() if conf[key] != local[key]}
    assert differing == DIFFERENT_FROM_LOCAL
    assert conf["env.java.opts.all"] == " ".join(JAVA_OPENS)


def test_checkpoints_live_on_a_volume_every_flink_pod_and_the_submission_share():
    cluster = the("FlinkDeployment", "spectator-flink")
    conf = cluster["spec"]["flinkConfiguration"]
    dirs = [conf[key] for key in ("state.checkpoints.dir", "state.savepoints.dir", "high-availability.storageDir")]
    pods = [*pod_specs(cluster), *pod_specs(the("CronJob", "spectator-submit"))]
    for pod in pods:
        main = pod["containers"][0]
        (volume,) = pod["volumes"]
        claim = the("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        (mount,) = [m for m in main["volumeMounts"] if m["name"] == volume["name"]]
        for uri in dirs:
            assert uri.startswith(f"file://{mount['mountPath']}/"), uri


def test_images_are_the_projects_pinned_to_its_versions():
    # A FlinkDeployment's flink-main-container takes spec.image.
    found = {c["image"] for _, doc in MANIFESTS for c in containers(doc) if c["name"] != "flink-main-container"}
    found.add(the("FlinkDeployment", "spectator-flink")["spec"]["image"])
    assert found == set(IMAGES.values())

    flink = (DOCKER / "flink.Dockerfile").read_text()
    assert f"ARG BEAM_VERSION={beam_version()}\n" in flink
    assert re.search(rf"^ARG FLINK_IMAGE=flink:{re.escape(FLINK_VERSION)}-scala_2\.12-java17$", flink, re.M)
    assert f"-t {IMAGES['flink']} ." in flink
    python = (DOCKER / "python.Dockerfile").read_text()
    assert f"ARG BEAM_VERSION={beam_version()}\n" in python
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION}\n" in python
    assert f"-t {IMAGES['python']} ." in python
