"""The Python worker pool beside the TaskManager: Beam's EXTERNAL environment, bound to 127.0.0.1.

Flink asks it for an SDK worker whenever a job (or a restarted one) needs one; each worker is a
process of this venv started by `worker_boot`, so a job outlives the command that submitted it
and a crashed worker is replaced on the job's restart. Beam's own worker_pool_main listens on
every interface and runs whatever `python` is first on PATH, so the project has its own.

    python -m spectator.flink.worker_pool --port 50000 --log FILE
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

import grpc
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer

log = logging.getLogger(__name__)


class WorkerPool(BeamFnExternalWorkerPoolServicer):
    def __init__(self, log_path: str):
        super().__init__(use_process=True)
        self.log_path = log_path

    def StartWorker(self, request: beam_fn_api_pb2.StartWorkerRequest, context) -> beam_fn_api_pb2.StartWorkerResponse:
        command = [
            sys.executable,
            "-m",
            "spectator.flink.worker_boot",
            f"--id={request.worker_id}",
            f"--provision_endpoint={request.provision_endpoint.url}",
            f"--control_endpoint={request.control_endpoint.url}",
            f"--logging_endpoint={request.logging_endpoint.url}",
        ]
        try:
            with open(self.log_path, "ab") as out:
                self._worker_processes[request.worker_id] = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, close_fds=True
                )
        except OSError:
            return beam_fn_api_pb2.StartWorkerResponse(error=traceback.format_exc())
        log.info("started SDK worker %s (pid %d)", request.worker_id, self._worker_processes[request.worker_id].pid)
        return beam_fn_api_pb2.StartWorkerResponse()


def serve(host: str, port: int, log_path: str) -> grpc.Server:
    # Beam's pool sets these too: the runner keeps the connection alive without data.
    options = [("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)]
    server = grpc.server(ThreadPoolExecutor(max_workers=4), options=options)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot listen on {host}:{port}")
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(WorkerPool(log_path), server)
    server.start()
    log.info("worker pool listening on %s:%d", host, bound)
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True, help="file the SDK workers write their output to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(args.host, args.port, args.log).wait_for_termination()


if __name__ == "__main__":
    main()
