"""tests/c/test_core.c: the C core's engines driven directly from C (create, alloc/free, bad
arguments refused with error codes, exhaustion, destroy), built from csrc/*.c with gcc and run
under valgrind (no invalid access, no leak) and under ASan/UBSan."""
import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "csrc", "*.c")))
TEST = os.path.join(ROOT, "tests", "c", "test_core.c")

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")


def build(tmp_path, *flags):
    exe = str(tmp_path / "test_core")
    r = subprocess.run(["gcc", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-std=c11",
                        "-D_GNU_SOURCE", *flags, "-I", os.path.join(ROOT, "csrc"), TEST,
                        *SOURCES, "-o", exe], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


@needs_gcc
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="no valgrind")
def test_core_under_valgrind(tmp_path):
    exe = build(tmp_path)
    r = subprocess.run(["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                        "--errors-for-leak-kinds=definite,indirect,possible", exe],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout


def _have_sanitizers():
    if shutil.which("gcc") is None:
        return False
    lib = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                         text=True).stdout.strip()
    return os.path.isabs(lib) and os.path.exists(lib)


@pytest.mark.skipif(not _have_sanitizers(), reason="gcc without libasan")
def test_core_under_asan_ubsan(tmp_path):
    exe = build(tmp_path, "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                "-fno-omit-frame-pointer")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([exe], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
