"""Print every benchmark ratio from one run: python benchmarks/report.py [name ...]

Collects measure() from each benchmarks/ratios_<name>.py (buddy, page_alloc, kernel, slab, vm, faults, thrash, ...)
and prints one table.  Each measurement checks its own result, so a fast wrong answer fails here.
"""
import glob
import importlib
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main(argv):
    names = argv or sorted(os.path.basename(p)[7:-3] for p in glob.glob(os.path.join(HERE, "ratios_*.py")))
    print(f"# {machine()}")
    print(f"{'measurement':58} {'value':>10}  unit")
    for name in names:
        module = importlib.import_module(f"ratios_{name}")
        for label, value, unit in module.measure():
            print(f"{label:58} {value:10.2f}  {unit}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
