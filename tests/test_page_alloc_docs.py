"""The code in docs/page_alloc.md runs (its asserts included) on both backends."""
import os
import re

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "page_alloc.md")


def test_tour_runs(backend):
    with open(DOC) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert blocks
    code = blocks[0].replace("from linuxmm import PageAllocator", "")
    namespace = {"PageAllocator": backend.PageAllocator}
    exec(compile(code, DOC, "exec"), namespace)
    assert namespace["pa"].vmstat()["pgfree"] >= 1001
