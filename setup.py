"""Session Spectator: the one place dependencies are declared (also Dataflow's --setup_file)."""

from setuptools import find_packages, setup

BEAM_VERSION = "2.70.0"  # also the KafkaIO expansion service's and the Flink job server's (scripts/common.sh)
EXPLORER = ["fastapi>=0.110", "uvicorn>=0.29"]
DATAFLOW = [f"apache-beam[gcp]=={BEAM_VERSION}", "google-cloud-dataflow-client>=0.8"]

setup(
    name="session-spectator",
    version="0.1.0",
    description="Follow every user of a website through their sessions: Kafka -> Beam -> Redis.",
    packages=find_packages(include=["spectator", "spectator.*"]),
    package_data={
        "spectator.io.redis": ["*.lua"],
        "spectator.explorer": ["static/*.html", "static/*.js", "static/*.css", "static/vendor/*"],
    },
    python_requires=">=3.10",
    install_requires=[
        f"apache-beam=={BEAM_VERSION}",
        "redis>=5,<8",
        "hiredis>=3,<4",  # redis-py packs commands and parses replies with it, faster (BENCHMARKS.md)
        "orjson>=3.9,<4",  # faster than json (BENCHMARKS.md); model.py keeps the standard parser's contract
        "kafka-python>=3.0,<4",
        "crcmod>=1.7",  # Beam warns at every import without it
    ],
    # What the pipeline's workers run is above; Dataflow installs only that (--setup_file).
    extras_require={
        "explorer": EXPLORER,  # spectator serve
        "dataflow": DATAFLOW,  # spectator dataflow, and launching on Dataflow
        "gcp": DATAFLOW,  # the old name of "dataflow"
        "test": [
            *EXPLORER,
            *DATAFLOW,
            "pytest>=8",
            "ruff>=0.6",
            "import-linter==2.17",
            "httpx>=0.27",
            "schemathesis>=3.30",
            "hypothesis>=6.100",
            "playwright>=1.45",
            # tests/unit/test_manifests.py: deploy/k8s against the operator's CRDs and Kubernetes' own schemas
            "pyyaml>=6",
            "jsonschema>=4.23,<5",
            "kubernetes-validate==1.37.0",  # the built-in kinds' schemas, per Kubernetes version, offline
        ],
    },
    entry_points={"console_scripts": ["spectator=spectator.cli:main"]},
)
