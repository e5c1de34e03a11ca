"""The tour in docs/vm.md runs as written and shows what its comments say."""
import os
import re
import sys

import pytest

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "vm.md")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.exists("/usr/bin/cat"),
                    reason="the tour imports /usr/bin/cat from the host")
def test_tour_runs_and_matches_its_comments():
    text = open(DOC).read()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    ns = {}
    exec(compile(code, "docs/vm.md", "exec"), ns)
    shown = re.search(r"^# (\S+-\S+ .*)$", code, re.M).group(1)
    assert ns["maps"] == shown + " \n"
    assert "VmSize:\t      28 kB" in ns["status"]
    assert ns["q"].mm.map_count >= 10 and "[vdso]" in ns["q"].maps
