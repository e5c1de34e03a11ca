"""The C core compiles without warnings, and a core of another ABI is refused at import."""
import glob
import os
import shutil
import subprocess
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize("source", sorted(glob.glob(os.path.join(ROOT, "csrc", "*.c"))),
                         ids=os.path.basename)
def test_c_source_compiles_without_warnings(source, tmp_path):
    r = subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE",
                        "-I", os.path.join(ROOT, "csrc"), "-c", source, "-o", str(tmp_path / "x.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_mismatched_core_is_refused(monkeypatch):
    fake = types.ModuleType("linuxmm._core")
    fake.ffi = object()
    fake.lib = types.SimpleNamespace(LMM_ABI_VERSION=10**6)
    monkeypatch.setitem(sys.modules, "linuxmm._core", fake)
    with open(os.path.join(ROOT, "linuxmm", "_ffi.py")) as f:
        code = compile(f.read(), "_ffi.py", "exec")
    with pytest.raises(ImportError, match="ABI"):
        exec(code, {"__name__": "linuxmm._ffi", "__package__": "linuxmm"})


def test_core_matches_package():
    import linuxmm
    from linuxmm._ffi import lib
    assert lib.LMM_ABI_VERSION == linuxmm.ABI_VERSION
