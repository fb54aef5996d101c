"""Late data dropped by the streaming jobs that write under a key prefix, read from their metrics.

Beam drops an element whose session window ended more than the allowed lateness before the
watermark, inside the merging GroupByKey, where no step of the pipeline sees it; Flink's
`droppedDueToLateness` counter is the one place it shows. Each Flink job registers itself in the
store when it is submitted, and the readers (`spectator summary`, the explorer) ask its cluster.
A job's counters start again from 0 when it restarts, and vanish when it ends, so each count read
is kept in the store and the largest one seen stands for the job: the figure is a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spectator.flink.rest import FlinkError, FlinkRest, FlinkUnavailable
from spectator.io.redis.store import SessionStore

MOST_JOBS = 20  # the newest registered jobs asked; older ones count with what was last seen
TIMEOUT_S = 2.0


@dataclass
class LateData:
    dropped: int = 0  # late elements dropped (events, or runs of one user's events), at least
    jobs: int = 0
    unreachable: list[str] = field(default_factory=list)  # clusters that did not answer

    def line(self) -> str:
        text = f"late elements dropped {self.dropped:,} (by {self.jobs} Flink job{'s' * (self.jobs != 1)})"
        if self.unreachable:
            text += f"; could not ask {', '.join(sorted(set(self.unreachable)))}"
        return text


def late_data(store: SessionStore, timeout_s: float = TIMEOUT_S) -> LateData:
    jobs = store.jobs()
    result = LateData(jobs=len(jobs))
    newest = sorted(jobs, key=lambda j: jobs[j].get("submitted_ms", 0), reverse=True)[:MOST_JOBS]
    for job_id in newest:
        info = jobs[job_id]
        if info["master"] in result.unreachable:  # one timeout a cluster, not one a job
            continue
        try:
            now = FlinkRest(info["master"], timeout_s).job_metrics(job_id, wait_s=0).get("late_elements_dropped")
        except FlinkUnavailable:
            result.unreachable.append(info["master"])
            continue
        except FlinkError:  # the cluster no longer knows the job
            continue
        if now is not None and now > info.get("late_dropped", 0):
            info["late_dropped"] = int(now)
            store.note_job(job_id, info)
    result.dropped = sum(info.get("late_dropped", 0) for info in jobs.values())
    return result
