"""Beam's SDK container contract in Python: ask the runner for this worker's set-up, then run it.

The worker pool starts this with the endpoints Flink gave it. Like Beam's Go boot program in its
SDK images, it fetches the provision info (pipeline options, endpoints, runner capabilities) and
execs the SDK harness with them, so the worker honours the job's options and logs to Flink. The
project's code and dependencies are already installed in this venv: no artifacts are fetched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import grpc
from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc, endpoints_pb2
from google.protobuf import json_format, text_format


def provision_info(endpoint: str, worker_id: str) -> beam_provision_api_pb2.ProvisionInfo:
    with grpc.insecure_channel(endpoint) as channel:
        stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
        request = beam_provision_api_pb2.GetProvisionInfoRequest()
        return stub.GetProvisionInfo(request, metadata=[("worker_id", worker_id)], timeout=60).info


def harness_env(info: beam_provision_api_pb2.ProvisionInfo, args: argparse.Namespace) -> dict[str, str]:
    def descriptor(given: endpoints_pb2.ApiServiceDescriptor, fallback: str) -> str:
        return text_format.MessageToString(given if given.url else endpoints_pb2.ApiServiceDescriptor(url=fallback))

    env = dict(
        os.environ,
        WORKER_ID=args.id,
        PIPELINE_OPTIONS=json.dumps(json_format.MessageToDict(info.pipeline_options)),
        CONTROL_API_SERVICE_DESCRIPTOR=descriptor(info.control_endpoint, args.control_endpoint),
        LOGGING_API_SERVICE_DESCRIPTOR=descriptor(info.logging_endpoint, args.logging_endpoint),
        SEMI_PERSISTENT_DIRECTORY=tempfile.mkdtemp(prefix=f"beam-worker-{args.id}-"),
        RUNNER_CAPABILITIES=" ".join(info.runner_capabilities),
    )
    if info.status_endpoint.url:
        env["STATUS_API_SERVICE_DESCRIPTOR"] = text_format.MessageToString(info.status_endpoint)
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("id", "provision_endpoint", "control_endpoint", "logging_endpoint"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--artifact_endpoint")  # part of the contract; nothing is fetched
    args = parser.parse_args(argv)
    env = harness_env(provision_info(args.provision_endpoint, args.id), args)
    os.execve(sys.executable, [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"], env)


if __name__ == "__main__":
    main()
