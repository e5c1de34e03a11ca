"""Build-only script: compiles the C core into ``linuxmm._core`` (cffi out-of-line API mode).

``csrc/lmm.h`` is both the cdef and the header every C file includes, so cffi's view of the
interface and the C compiler's cannot drift apart.
"""
import glob
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = sorted(glob.glob(os.path.join(HERE, "*.c")))

# LINUXMM_SANITIZE=address,undefined (a comma-separated -fsanitize= list) builds an instrumented
# core for tools/sanitize_run; UBSan reports are made fatal (-fno-sanitize-recover).
SANITIZE = os.environ.get("LINUXMM_SANITIZE", "").strip()
COMPILE_ARGS = ["-O2", "-Wall", "-Wextra", "-std=c11", "-D_GNU_SOURCE"]
LINK_ARGS = []
if SANITIZE:
    if not re.fullmatch(r"[a-z-]+(,[a-z-]+)*", SANITIZE):
        raise SystemExit(f"LINUXMM_SANITIZE={SANITIZE!r}: expected e.g. address,undefined")
    COMPILE_ARGS = ["-O1", "-g", "-Wall", "-Wextra", "-std=c11", "-D_GNU_SOURCE",
                    f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
    LINK_ARGS = [f"-fsanitize={SANITIZE}"]

ffibuilder = FFI()
with open(os.path.join(HERE, "lmm.h")) as f:
    ffibuilder.cdef(f.read())

ffibuilder.set_source(
    "linuxmm._core",
    '#include <stdint.h>\n#include "lmm.h"\n',
    sources=[os.path.relpath(s) for s in SOURCES],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=COMPILE_ARGS,
    extra_link_args=LINK_ARGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
