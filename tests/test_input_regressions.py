"""Regressions found by fuzzing untrusted input (tests/test_fuzz_inputs.py): each gives the
documented exception, not an internal one."""
import errno
import struct

import numpy as np
import pytest

import linuxmm
from linuxmm import boot
from linuxmm.replay import TraceError
from linuxmm.replay import access
from test_fuzz_inputs import SEED_ELF


def _true():
    if SEED_ELF is None:
        pytest.skip("no x86_64 /bin/true")
    return SEED_ELF


def test_execve_padzero_beyond_eof_is_efault(tmp_path):
    """A writable PT_LOAD whose p_filesz runs past the file's end: padzero()'s clear_user()
    faults (SIGBUS beyond EOF) and elf_load() returns -EFAULT; it was an uncaught BusError."""
    data = bytearray(_true())
    phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]
    for i in range(phnum):
        off = phoff + 56 * i
        p_type, p_flags = struct.unpack_from("<II", data, off)
        if p_type == 1 and p_flags & 2:                      # PT_LOAD, PF_W
            p_offset, p_vaddr = struct.unpack_from("<QQ", data, off + 8)
            filesz = len(data) - p_offset + 0x1000 + 0x100   # the last page lies beyond EOF
            struct.pack_into("<QQ", data, off + 32, filesz, filesz + 0x200)
            break
    else:
        pytest.skip("no writable PT_LOAD")
    path = tmp_path / "prog"
    path.write_bytes(bytes(data))
    path.chmod(0o755)
    k = linuxmm.Kernel("256M")
    p = k.spawn("sh")
    with pytest.raises(OSError) as err:
        p.execve(str(path), [str(path)], [])
    assert err.value.errno == errno.EFAULT
    k.check()


@pytest.mark.parametrize("entry", [(0, False, "usable"), (0, None, "usable"), (1.5, 4096, "usable"),
                                   (b"0", 4096, "usable")])
def test_e820_entry_of_wrong_type_is_argument_type_error(entry):
    """A bool/None/float/bytes address in an e820 table: ArgumentTypeError (a ValueError, as
    parse_e820 documents), not a bare TypeError from parse_size."""
    with pytest.raises(linuxmm.ArgumentTypeError):
        boot.parse_e820([entry])
    with pytest.raises(ValueError):
        linuxmm.Kernel(e820=[entry])


@pytest.mark.parametrize("raw", [b"", b"PK\x03\x04xx", b"\x93NUMPY", b"\x93NUMPY\x01\x00garbage"])
def test_damaged_npz_trace_is_trace_error(tmp_path, raw):
    """An empty or damaged .npy/.npz: TraceError (it was EOFError, BadZipFile...)."""
    path = tmp_path / "t.npz"
    path.write_bytes(raw)
    with pytest.raises(TraceError):
        access.read_npz(str(path))


def test_npz_with_damaged_member_is_trace_error(tmp_path):
    path = tmp_path / "t.npz"
    np.savez_compressed(path, addrs=np.arange(1000, dtype=np.int64))
    raw = bytearray(path.read_bytes())
    raw[60:90] = b"\xff" * 30                         # inside the compressed member
    path.write_bytes(bytes(raw))
    with pytest.raises(TraceError):
        access.read_npz(str(path))


@pytest.mark.parametrize("action", [{"process": "a", "do": "mmap", "region": ["x"], "size": 4096},
                                    {"process": "a", "do": ["mmap"], "region": "x"},
                                    {"process": "a", "do": {"k": 1}}])
def test_scenario_unhashable_values_are_scenario_error(action):
    """A list or table where a string belongs (region, do): ScenarioError, not TypeError."""
    from linuxmm import scenario
    with pytest.raises(scenario.ScenarioError):
        scenario.Scenario({"process": [{"name": "a"}], "action": [action]})
