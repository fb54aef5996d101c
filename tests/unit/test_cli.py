"""The `spectator` command's one-line errors: wrong flags, and a Redis that is not there."""

import subprocess
import sys

import pytest

from spectator.cli import main
from tests.support.cli import one_line_error

DEAD_URL = "redis://:secret@127.0.0.1:1/0"


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--input", "x.jsonl", "--gap-secs", "5"], "unrecognized arguments: --gap-secs"),
        (["run", "--gap-seconds", "-3"], "--gap_seconds"),
        (["top", "--nope"], "unrecognized arguments: --nope"),
        (["sessions"], "user_id"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_wrong_flags_give_one_line(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in one_line_error(capsys)


@pytest.mark.parametrize("command", [["export"], ["top"], ["sessions", "u"], ["deadletters"], ["summary"], ["recent"]])
def test_unreachable_redis_gives_one_line_without_password(command, capsys):
    assert main([*command, "--redis-url", DEAD_URL]) == 1
    err = one_line_error(capsys)
    assert "cannot reach Redis at redis://***@127.0.0.1:1/0" in err and "secret" not in err


def test_run_with_unreachable_redis_fails_before_running(tmp_path, capsys):
    (tmp_path / "e.jsonl").write_text('{"user_id": "u", "timestamp": 1}\n')
    assert main(["run", "--input", str(tmp_path / "e.jsonl"), "--redis-url", DEAD_URL]) == 1
    assert "cannot reach Redis" in one_line_error(capsys)


@pytest.mark.parametrize("command", [["top"], ["sessions", "u"], ["summary"], ["recent"], ["deadletters"], ["export"]])
def test_read_commands_import_no_beam(command):
    """Beam takes seconds to import; a read command answers (here: Redis is not there) without it."""
    probe = (
        "import sys\nfrom spectator.cli import main\n"
        f"code = main({[*command, '--redis-url', DEAD_URL]!r})\n"
        # (google and google.cloud alone are namespace packages that .pth files load at start-up)
        "heavy = ('apache_beam', 'fastapi', 'uvicorn', 'google.auth', 'google.api_core', 'grpc')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "print(code, loaded)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "1 []", done.stdout + done.stderr[-2000:]
