"""A small client of Flink's REST API (the JobManager's web port): jobs, savepoints, checkpoints, metrics."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from spectator.core.errors import ServiceError

ACTIVE_STATES = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "CANCELLING", "FAILING", "RECONCILING"}


class FlinkUnavailable(ConnectionError):
    """The cluster does not answer; one line for the user."""


class FlinkError(ServiceError):
    """The cluster answered with an error (unknown job, failed savepoint, ...)."""


def base_url(master: str) -> str:
    master = master.strip().rstrip("/")
    return master if master.startswith(("http://", "https://")) else f"http://{master}"


def job_folder(checkpoints_root: str, job_name: str) -> str:
    """Where a job name's checkpoints and savepoints go: one folder a name, so that the next job of
    that name finds them, even after the JobManager forgot the jobs it ran."""
    return f"{checkpoints_root.rstrip('/')}/{quote(job_name, safe='')}"


class FlinkRest:
    def __init__(self, master: str, timeout: float = 10.0):
        self.url = base_url(master)
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                detail = "; ".join(json.loads(detail).get("errors", [])) or detail
            except (ValueError, AttributeError):
                pass
            first = detail.strip().splitlines()[0] if detail.strip() else e.reason
            raise FlinkError(f"Flink at {self.url} refused {method} {path}: {e.code} {first}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FlinkUnavailable(f"cannot reach the Flink cluster at {self.url}: {reason}") from None
        return json.loads(text) if text else {}

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def overview(self) -> dict:
        return self.get("/overview")

    def config(self) -> dict[str, str]:
        """The JobManager's configuration."""
        return {row["key"]: row["value"] for row in self.get("/jobmanager/config")}

    def jobs(self) -> list[dict]:
        """Every job the JobManager knows, newest first."""
        return sorted(self.get("/jobs/overview")["jobs"], key=lambda j: j["start-time"], reverse=True)

    def job_folder(self, job_name: str) -> str | None:
        root = self.config().get("state.checkpoints.dir")
        return job_folder(root, job_name) if root else None

    def job(self, job_id: str) -> dict:
        return self.get(f"/jobs/{job_id}")

    def checkpoints(self, job_id: str) -> dict:
        return self.get(f"/jobs/{job_id}/checkpoints")

    def latest_checkpoint(self, job_id: str) -> str | None:
        """The external path of the job's latest completed checkpoint or savepoint, if any."""
        found = self.latest_checkpoint_with_time(job_id)
        return found[0] if found else None

    def latest_checkpoint_with_time(self, job_id: str) -> tuple[str, float] | None:
        """(external path, completion time in ms) of the job's latest checkpoint or savepoint."""
        latest = self.checkpoints(job_id).get("latest") or {}
        done = [c for c in (latest.get("completed"), latest.get("savepoint")) if c and c.get("external_path")]
        if not done:
            return None
        newest = max(done, key=lambda c: c["latest_ack_timestamp"])
        return newest["external_path"], newest["latest_ack_timestamp"]

    def cancel(self, job_id: str) -> None:
        self._call("PATCH", f"/jobs/{job_id}?mode=cancel")

    def savepoint_and_cancel(self, job_id: str, target_dir: str | None, wait_s: float = 300) -> str:
        """Takes a savepoint, then cancels the job; returns the savepoint's path.

        Not Flink's stop-with-savepoint (POST /jobs/{id}/stop): that stops the sources first, and
        Beam's UnboundedSourceWrapper then emits a final +inf watermark, which fires and discards
        every open session window before the savepoint is taken. The resumed job would start
        those sessions again from nothing.
        """
        body: dict[str, Any] = {"cancel-job": True}
        if target_dir:
            body["target-directory"] = target_dir
        trigger = self._call("POST", f"/jobs/{job_id}/savepoints", body)["request-id"]
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            status = self.get(f"/jobs/{job_id}/savepoints/{trigger}")
            if status["status"]["id"] == "COMPLETED":
                operation = status.get("operation", {})
                if "location" in operation:
                    return operation["location"]
                cause = operation.get("failure-cause", {}).get("stack-trace", "unknown cause")
                raise FlinkError(f"the savepoint of job {job_id} failed: {cause.strip().splitlines()[0]}")
            time.sleep(0.5)
        raise FlinkError(f"the savepoint of job {job_id} did not complete within {wait_s:g}s")

    def wait_for_state(self, job_id: str, states: set[str], wait_s: float) -> str:
        deadline = time.monotonic() + wait_s
        while True:
            state = self.job(job_id)["state"]
            if state in states or time.monotonic() > deadline:
                return state
            time.sleep(0.5)

    def job_metrics(self, job_id: str, wait_s: float = 12) -> dict[str, float]:
        """The job's counters that matter to a user, summed over vertices and subtasks. The
        JobManager fetches metrics every 10 s, and has none for a job it was not asked about
        before: up to `wait_s` is spent waiting for the first ones."""
        deadline = time.monotonic() + wait_s
        while True:
            totals = self._job_metrics(job_id)
            if totals or time.monotonic() > deadline:
                return totals
            time.sleep(1)

    def _job_metrics(self, job_id: str) -> dict[str, float]:
        totals: dict[str, float] = {}
        for vertex in self.job(job_id).get("vertices", []):
            path = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
            wanted = {
                m["id"]: METRICS[suffix] for m in self.get(path) for suffix in METRICS if m["id"].endswith(suffix)
            }
            if not wanted:
                continue
            for row in self.get(f"{path}?get={quote(','.join(wanted), safe=',')}&agg=sum,min"):
                name = wanted[row["id"]]
                value = row["min"] if name == "watermark_ms" else row["sum"]
                totals[name] = (
                    min(totals.get(name, value), value) if name == "watermark_ms" else totals.get(name, 0) + value
                )
        return totals


# Flink metric names (by their ending) -> what `spectator flink status` calls them. Beam's merging
# GroupByKey counts the elements it drops as too late: single events, or a run of one user's events
# folded together within a bundle (transforms/sessionize.py).
METRICS = {
    ".spectator_events_parsed": "events_parsed",
    ".spectator_dead_letters": "dead_letters",
    ".spectator_upsert_session_written": "session_writes",
    ".spectator_upsert_session_unchanged": "panes_unchanged",
    ".spectator_redis_retries": "redis_retries",
    "LateDataDroppingDoFnRunner_droppedDueToLateness": "late_elements_dropped",
    "GroupByKey.currentInputWatermark": "watermark_ms",
}
