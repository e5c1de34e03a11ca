"""Every ```python block of README.md and docs/*.md runs on its own, as written; a line
`print(expr)  # -> text` must print exactly text."""
import contextlib
import glob
import io
import os
import re
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FILES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
CLAIM = re.compile(r"^(\s*)print\((.*)\)\s*# -> (.*)$")


def blocks():
    for path in FILES:
        text = open(path).read()
        for i, m in enumerate(re.finditer(r"```python\n(.*?)```", text, re.S)):
            yield pytest.param(path, m.group(1), id=f"{os.path.basename(path)}-{i}")


def with_claims(code):
    """Each claimed print also records what it printed, checked against its comment."""
    out = []
    for line in code.splitlines():
        m = CLAIM.match(line)
        if m:
            indent, expr, text = m.groups()
            out.append(f"{indent}_buf = _io.StringIO(); print({expr}, file=_buf)")
            out.append(f"{indent}_claims.append((_buf.getvalue().rstrip(), {text.strip()!r}))")
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.exists("/usr/bin/cat"),
                    reason="the tours import host binaries")
@pytest.mark.parametrize("path,code", list(blocks()))
def test_block_runs(path, code):
    claims = []
    ns = {"_claims": claims, "_io": io, "__name__": "__doc__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(with_claims(code), path, "exec"), ns)
    for printed, claimed in claims:
        assert printed == claimed, (path, printed, claimed)
