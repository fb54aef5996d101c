"""A file replay through the CLI into the real Redis, checked against the plain-Python reference."""

import json
import os

import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.options.pipeline_options import DirectOptions

from spectator.cli import main
from spectator.io import files
from spectator.pipeline.build import PARALLEL_INPUT_BYTES, plan_workers
from spectator.pipeline.options import parse_options
from spectator.transforms import sessionize
from tests.support.data import BAD_LINES, GAP_S, PANE_FIELDS, edge_case_events, write_lines
from tests.support.redis import export
from tests.support.reference import reference_sessions


@pytest.mark.parametrize(
    "name, workers, buffered, windowing",
    [
        ("events.jsonl", 1, 100_000, "auto"),
        ("events.jsonl.gz", 1, 100_000, "fold"),
        ("events.jsonl", 2, 100_000, "auto"),
        ("e.jsonl", 1, 7, "auto"),
        ("events.jsonl", 1, 100_000, "sessions"),
        ("events.jsonl.gz", 2, 7, "sessions"),
    ],
    ids=["plain", "gzip", "2-workers", "small-buffer", "sessions-windows", "sessions-windows-gzip-2-workers"],
)
def test_replay_equals_reference(tmp_path, redis_url, store, capsys, monkeypatch, name, workers, buffered, windowing):
    """Both windowings give the reference's sessions; Sessions windows fire one ON_TIME pane each
    on a finished input."""
    events = edge_case_events()
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    for i, bad in enumerate(BAD_LINES):
        lines.insert(7 * i + 3, bad)
    path = tmp_path / name
    write_lines(path, lines)
    monkeypatch.setattr(files, "SPLIT_BYTES", 1000)  # many ranges, spread over the workers
    monkeypatch.setattr(sessionize, "MAX_BUFFERED_EVENTS", buffered)  # partials of one session meet later
    argv = ["run", "--input", str(path), "--redis-url", redis_url, "--gap-seconds", str(GAP_S), "--bot-threshold", "50"]
    argv += ["--workers", str(workers), "--windowing", windowing]
    assert main(argv) == 0
    ran = "sessions" if windowing == "sessions" else "fold"
    assert f"on the DirectRunner (FnApiRunner), windowing {ran}:" in capsys.readouterr().out
    expected = reference_sessions(events, GAP_S * 1000, bot_threshold=50)
    stored = export(redis_url, capsys)
    got = [{k: v for k, v in r.items() if k not in PANE_FIELDS} for r in stored]
    assert got == expected
    assert {r["pane"] for r in stored} == {"ON_TIME"}
    assert any(r["is_bot"] for r in got) and any(r["is_bounce"] for r in got)
    assert store.deadletter_total() == len(BAD_LINES)
    assert {d["payload"] for d in store.deadletters(100)} == set(BAD_LINES)
    bad_origins = {f"{path}:{number}" for number, line in enumerate(lines, start=1) if line in BAD_LINES}
    assert {d["origin"] for d in store.deadletters(100)} == bad_origins

    # A second replay of the same file changes nothing, dead letters included.
    before = export(redis_url, capsys)
    assert main(argv) == 0
    after = export(redis_url, capsys)
    assert after == before and store.deadletter_total() == len(BAD_LINES)


def test_early_panes_on_a_bounded_replay_run_on_the_bundle_based_engine(tmp_path, redis_url, capsys):
    """The FnApiRunner has no clock for processing-time triggers; the replay asks for them, so it
    runs where they fire, and still ends at the reference, each session's last pane ON_TIME."""
    events = edge_case_events(seed=2)
    write_lines(tmp_path / "e.jsonl", [json.dumps(e) for e in events])
    argv = ["run", "--input", str(tmp_path / "e.jsonl"), "--redis-url", redis_url, "--gap-seconds", str(GAP_S)]
    assert main([*argv, "--windowing", "sessions", "--early-firing-seconds", "1", "--bot-threshold", "50"]) == 0
    assert "on the DirectRunner (BundleBasedDirectRunner), windowing sessions:" in capsys.readouterr().out
    stored = export(redis_url, capsys)
    assert [{k: v for k, v in r.items() if k not in PANE_FIELDS} for r in stored] == reference_sessions(
        events, GAP_S * 1000, bot_threshold=50
    )
    assert {r["pane"] for r in stored} == {"ON_TIME"}


def test_events_exactly_gap_apart_split(tmp_path, redis_url, capsys):
    t0 = 1_767_225_600_000
    times = [t0, t0 + 59_999, t0 + 119_999, t0 + 179_999, t0 + 180_000]
    write_lines(tmp_path / "e.jsonl", [json.dumps({"user_id": "u", "timestamp": t}) for t in times])
    assert main(["run", "--input", str(tmp_path / "e.jsonl"), "--redis-url", redis_url, "--gap-seconds", "60"]) == 0
    assert main(["run", "--input", str(tmp_path / "e.jsonl"), "--redis-url", redis_url, "--gap-seconds", "60"]) == 0
    sessions = [(r["start_ms"] - t0, r["end_ms"] - t0, r["event_count"]) for r in export(redis_url, capsys)]
    assert sessions == [(0, 59_999, 2), (119_999, 119_999, 1), (179_999, 180_000, 2)]


def test_the_pipeline_options_carry_no_redis_password(tmp_path):
    """Runners log and show the pipeline's options; the writers keep the URL they were built with."""
    import apache_beam as beam

    from spectator.io.redis.write import WriteSessionsToRedis
    from spectator.pipeline.build import build
    from spectator.pipeline.options import SpectatorOptions, parse_options

    (tmp_path / "e.jsonl").write_text("")
    options = parse_options(["--input", str(tmp_path / "e.jsonl"), "--redis-url", "redis://:pw-9@127.0.0.1:1/0"])
    p = beam.Pipeline(options=options)
    build(p, options)
    assert p.options.get_all_options()["redis_url"] == "redis://***@127.0.0.1:1/0"
    writers = [t.transform for t in p.transforms_stack[0].parts if isinstance(t.transform, WriteSessionsToRedis)]
    assert [w.dofn.redis_url for w in writers] == ["redis://:pw-9@127.0.0.1:1/0"]
    assert options.view_as(SpectatorOptions).redis_url == "redis://:pw-9@127.0.0.1:1/0"


def test_line_ranges_cover_every_line_once_with_its_number(tmp_path):
    path = tmp_path / "lines.jsonl"
    lines = [f'{{"n": {i}}}' + " " * (i % 7) for i in range(300)] + ["", "  ", "last\r"]
    path.write_bytes("\n".join(lines).encode())  # no newline at the end, blank lines, a CR
    metadata = FileMetadata(str(path), path.stat().st_size)
    ranges = list(files.line_ranges(metadata, split_bytes=64))
    assert len(ranges) > 20 and [r.start for r in ranges[1:]] == [r.end for r in ranges[:-1]]
    got = [pair for r in ranges for pair in files.range_lines(r)]
    whole = [pair for r in files.line_ranges(metadata, split_bytes=1 << 20) for pair in files.range_lines(r)]
    expected = [(f"{path}:{n}", line.rstrip("\r").encode()) for n, line in enumerate(lines, 1) if line.strip()]
    assert got == whole == expected


def test_workers_follow_the_input_size_unless_given(tmp_path):
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    small.write_text("{}\n")
    with open(big, "wb") as f:
        f.truncate(PARALLEL_INPUT_BYTES + 1)  # sparse: only the size matters

    def planned(*flags):
        options = parse_options(list(flags))
        workers = plan_workers(options)
        return workers, options.view_as(DirectOptions).direct_running_mode

    assert planned("--input", str(small)) == (1, "in_memory")
    assert planned("--input", str(big)) == (os.cpu_count(), "multi_processing" if os.cpu_count() > 1 else "in_memory")
    assert planned("--input", str(big), "--workers", "1") == (1, "in_memory")
    assert planned("--input", str(small), "--workers", "3") == (3, "multi_processing")
    assert planned("--input", str(big), "--direct_num_workers", "4") == (4, "in_memory")
    assert planned("--input", str(big), "--runner", "FlinkRunner") == (1, "in_memory")
    assert planned("--bootstrap-servers", "h:1", "--topic", "t") == (1, "in_memory")
