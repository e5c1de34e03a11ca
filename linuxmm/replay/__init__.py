"""Replaying traces recorded on a real machine (docs/cli.md "Traces").

Three kinds, detected from the file when not named:

* ``strace``: ``strace -f -y -e trace=%memory,execve`` logs; every memory system call is made
  again with its recorded arguments and linuxmm's result compared with the kernel's
  (`linuxmm.replay.strace.replay`);
* ``lackey``: valgrind ``--tool=lackey --trace-mem=yes`` output: an access trace that drives
  page faults and reclaim (`linuxmm.replay.access.replay_lackey`);
* ``npz``: linuxmm's own compact access trace, a ``.npy`` array of addresses or a ``.npz`` with
  ``addrs`` and optional ``writes`` (`linuxmm.replay.access.replay_npz`).
"""
import gzip
import re

__all__ = ["TraceError", "KINDS", "detect", "open_text"]

KINDS = ("strace", "lackey", "npz")


class TraceError(ValueError):
    """A trace that cannot be read or replayed: the message names the file and line."""


def _head(path, n=65536):
    try:
        with open(path, "rb") as f:
            raw = f.read(n)
    except OSError as err:
        raise TraceError(f"{path}: {err.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                return f.read(n), True
        except (OSError, EOFError) as err:
            raise TraceError(f"{path}: a broken gzip file ({err})") from None
    return raw, False


_STRACE_LINE = re.compile(rb"^(?:\[pid +\d+\] |\d+ +)?(?:[\d:.]+ )?[a-z_0-9]+\("
                          rb"(?:.*\) += (?:-?\d|0x|\?)|.*<unfinished \.\.\.>$)", re.M)
_LACKEY_LINE = re.compile(rb"^(?:I  | [LSM] )[0-9a-fA-F]+,\d+$", re.M)


def detect(path):
    """The kind of trace in path: "strace", "lackey" or "npz"; TraceError when none fits."""
    raw, _ = _head(path)
    if raw.startswith(b"\x93NUMPY") or raw.startswith(b"PK\x03\x04"):
        return "npz"
    lackey = len(_LACKEY_LINE.findall(raw))
    strace = len(_STRACE_LINE.findall(raw))
    if lackey and lackey >= strace:
        return "lackey"
    if strace:
        return "strace"
    raise TraceError(f"{path}: not a trace linuxmm knows (strace -f -y log, valgrind lackey "
                     f"--trace-mem=yes output, .npy/.npz access trace); name it with --kind")


def open_text(path):
    """A text file object for path, gunzipping when it is gzip-compressed."""
    _, gz = _head(path, 2)
    if gz:
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")
