"""Numbers out of the /proc files tests read: "Key:   value kB" lines and /proc/vmstat."""


def field(text, key):
    """The number after "key:" in a /proc text (status, meminfo, smaps)."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def status(k, p, key):
    return field(k.read(f"/proc/{p.pid}/status"), key)


def meminfo(k, key):
    return field(k.read("/proc/meminfo"), key)


def vmstat(k, key=None):
    """One /proc/vmstat item, or all of them as a dict."""
    values = {line.split()[0]: int(line.split()[1])
              for line in k.read("/proc/vmstat").splitlines()}
    return values if key is None else values[key]
