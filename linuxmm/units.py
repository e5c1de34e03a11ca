"""Sizes as users write them: ints (bytes) or strings with K/M/G/T suffixes (powers of 1024)."""
import re

from .errors import ArgumentTypeError

_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGTP]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(value):
    """Bytes from 4096, "4096", "64K", "4G", "1TiB"...; ValueError for anything else (a bool,
    float or other type: ArgumentTypeError, both TypeError and ValueError)."""
    if isinstance(value, bool):
        raise ArgumentTypeError("a size must be an int or a string, not bool")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must be >= 0, got {value}")
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(m.group(1)) * _SUFFIX[m.group(2).upper()]
        raise ValueError(f"cannot parse size {value!r} (use e.g. 4096, '64K', '4G')")
    raise ArgumentTypeError(f"a size must be an int or a string, not {type(value).__name__}")
