"""Running the `linuxmm` command as a user does, for the CLI tests: the source tree on
PYTHONPATH, output captured, and the one-line error convention checked."""
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def cli(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "linuxmm", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})


def ok_json(*args):
    r = cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def one_line_error(r, status=None):
    """A user's error: one line on stderr, "linuxmm: error: ...", the exit status (when given)
    and never a traceback."""
    assert r.returncode != 0 and (status is None or r.returncode == status), (r.returncode,
                                                                             r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("linuxmm: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]
