"""Every value csrc/lmm.h repeats from linuxmm/vm/mmu_defs.py is the same in both."""
import os
import re

import pytest

from linuxmm._ffi import lib
from linuxmm.vm import mmu_defs as D

HEADER = os.path.join(os.path.dirname(__file__), os.pardir, "csrc", "lmm.h")
BANNER = "/* ---- MMU: page frames, page tables, bulk access (csrc/mmu.c) ---- */"
RENAMED = {"LMM_PTE_TABLE": "_PAGE_TABLE", "LMM_PTE_PFN_MASK": "PTE_PFN_MASK"}
C_ONLY = {"LMM_ELEAF", "LMM_EHUGE"}     # error codes, and the LMM_MMU_* array selectors


def mmu_defines():
    with open(HEADER) as f:
        text = f.read()
    section = text[text.index(BANNER):]
    return [n for n in re.findall(r"^#define\s+(LMM_\w+)", section, re.M)
            if n not in C_ONLY and not n.startswith("LMM_MMU_")]


def python_name(c_name):
    if c_name in RENAMED:
        return RENAMED[c_name]
    name = c_name[len("LMM_"):]
    if name.startswith("PTE_"):
        return "_PAGE_" + name[len("PTE_"):]
    return name


def test_the_banner_defines_the_mmu_constants():
    assert len(mmu_defines()) > 50


@pytest.mark.parametrize("c_name", mmu_defines())
def test_c_value_equals_python_value(c_name):
    assert getattr(lib, c_name) == getattr(D, python_name(c_name)), c_name
