"""The kernel log (kernel/printk/printk.c): ``k.printk(text)`` appends, ``k.dmesg()`` prints.

Each record keeps the simulated time it was logged at (``kernel.now``, nanoseconds) and its
log level; ``dmesg()`` renders them as ``dmesg`` does with the kernel's default prefix,
``"[%5lu.%06lu] "`` (seconds and microseconds: print_time()), one record a line.
"""
from ._args import as_int

# include/linux/kern_levels.h
KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR = 0, 1, 2, 3
KERN_WARNING, KERN_NOTICE, KERN_INFO, KERN_DEBUG = 4, 5, 6, 7
LEVEL_NAMES = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")

LOG_BUF_RECORDS = 1 << 17          # a bound on the ring (the kernel's is 2**CONFIG_LOG_BUF_SHIFT)


def print_time(ts_ns):
    """printk's time prefix: "[%5lu.%06lu]" of a nanosecond timestamp."""
    sec, rem = divmod(int(ts_ns), 1_000_000_000)
    return "[%5d.%06d]" % (sec, rem // 1000)


class LogBuffer:
    """The printk ring buffer: (timestamp ns, level, text) records, oldest first."""

    def __init__(self, clock):
        self._clock = clock            # () -> now in ns
        self.records = []

    def printk(self, text, level=KERN_INFO):
        """Log text (a trailing newline is dropped; embedded newlines start new records
        with the same timestamp, as separate printk calls in one instant would)."""
        level = as_int(level, "level")
        if not 0 <= level <= 7:
            raise ValueError(f"log level must be in 0..7, got {level}")
        now = self._clock()
        text = str(text)
        if text.endswith("\n"):
            text = text[:-1]
        for line in text.split("\n"):
            self.records.append((now, level, line))
        if len(self.records) > LOG_BUF_RECORDS:         # the oldest records are overwritten
            del self.records[:len(self.records) - LOG_BUF_RECORDS]

    def dmesg(self, level=None):
        """The log as `dmesg` prints it; level: only records at this level or more urgent."""
        if level is not None:
            level = as_int(level, "level")
        return "".join(f"{print_time(ts)} {text}\n" for ts, lvl, text in self.records
                       if level is None or lvl <= level)

    def clear(self):
        """dmesg -C (SYSLOG_ACTION_CLEAR)."""
        self.records.clear()
