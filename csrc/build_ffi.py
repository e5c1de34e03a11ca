"""Build-only script: compiles the C core into ``linuxmm._core`` (cffi out-of-line API mode).

``csrc/lmm.h`` is both the cdef and the header every C file includes, so cffi's view of the
interface and the C compiler's cannot drift apart.
"""
import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = sorted(glob.glob(os.path.join(HERE, "*.c")))

ffibuilder = FFI()
with open(os.path.join(HERE, "lmm.h")) as f:
    ffibuilder.cdef(f.read())

ffibuilder.set_source(
    "linuxmm._core",
    '#include <stdint.h>\n#include "lmm.h"\n',
    sources=[os.path.relpath(s) for s in SOURCES],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-std=c11", "-D_GNU_SOURCE"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
