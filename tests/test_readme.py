"""The README's Python examples run as written (in order, in one namespace)."""
import os
import re
import sys

import pytest

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.exists("/usr/bin/cat"),
                    reason="the tour execs /usr/bin/cat from the host")
def test_readme_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", open(README).read(), re.S)
    assert len(blocks) >= 2
    ns = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md block {i}", "exec"), ns)
    out = capsys.readouterr().out
    assert out.startswith("Node 0, zone      DMA ")           # /proc/buddyinfo
    assert "slabinfo - version: 2.1" in out
    assert "[stack]" in out and "/usr/bin/cat" in out
    assert ns["b"].nr_free[10] == 255 and ns["b"].free_list(2) == []
    assert ns["r"].nr_free == [0] * 10 + [256]
