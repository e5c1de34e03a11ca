"""The ``linuxmm`` command (also ``python -m linuxmm``): demo, run, proc, replay, record.

Every error a user can cause is one line on stderr ("linuxmm: error: ...") and a non-zero
exit status; --json prints machine-readable output; progress bars go to stderr (--quiet).
"""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import click

from .demo import buddyinfo_line, demo as _demo

__all__ = ["main", "cli", "buddyinfo_line"]

CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"],
           "max_content_width": 100}


class UserError(click.ClickException):
    """An error the user caused: printed as one line, exit status `exit_code`."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def _version():
    from .. import __version__
    return __version__


@click.group(context_settings=CONTEXT)
@click.version_option(_version(), "--version", "-V", prog_name="linuxmm",
                      message="%(prog)s %(version)s")
def cli():
    """linuxmm: Linux 6.x memory management, simulated.

    \b
    linuxmm demo                      a tour of a simulated machine (/proc views)
    linuxmm run SCENARIO.toml         run a scenario file, print a summary
    linuxmm proc SCENARIO.toml PATH   one /proc file of the scenario's final state
    linuxmm replay TRACE              replay an strace log, lackey or .npz access trace
    linuxmm record -- CMD ARGS...     strace a command on this host, then replay it
    linuxmm report [SCENARIO]         an HTML report with plots over simulated time
    linuxmm sweep SCENARIO --grid K=V1,V2   one scenario over a parameter grid -> CSV

    Scenario files and trace kinds: docs/cli.md; reports and sweeps: docs/reports.md.
    """


def _common(f):
    f = click.option("--quiet", "-q", is_flag=True, help="no progress bars")(f)
    f = click.option("--json", "as_json", is_flag=True, help="machine-readable JSON output")(f)
    return f


@contextlib.contextmanager
def _progress(quiet):
    """A rich progress bar on stderr (transient: it disappears when done)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    console = Console(stderr=True)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=True,
                  disable=quiet or not console.is_terminal) as bar:
        yield bar


def _emit(obj):
    click.echo(json.dumps(obj, indent=2, default=str))


# -- demo ---------------------------------------------------------------------------------------
@cli.command(context_settings=CONTEXT)
@click.option("--mem", default="4G", help="RAM of the demo machine")
@click.option("--cpus", type=click.IntRange(1, 1024), default=2, help="CPUs")
@click.option("--bursts", type=click.IntRange(1, 1000), default=20,
              help="scale of the allocation burst")
@click.option("--seed", type=int, default=0, help="random seed")
@click.option("--backend", type=click.Choice(["c", "reference"]), default="c",
              help="C core or the pure-Python reference models")
@_common
def demo(mem, cpus, bursts, seed, backend, as_json, quiet):
    """Boot a machine, run a burst of page, slab and kmalloc allocations, then processes that
    exec, map, touch, fork and exit, and a moment of memory pressure on a small machine with
    swap; prints /proc views of each (under 10 s)."""
    from ..units import parse_size
    try:
        parse_size(mem)
    except (TypeError, ValueError) as err:
        raise UserError(f"--mem: {err}", 2) from None
    ns = type("Args", (), {"mem": mem, "cpus": cpus, "bursts": bursts, "seed": seed,
                           "backend": backend})()
    facts = {}
    phases = ["boot and allocation burst", "processes: exec, mmap, faults, fork, exit",
              "memory pressure: kswapd and swap"]
    with _progress(quiet) as bar:
        task = bar.add_task("demo", total=len(phases))

        def phase(name):
            bar.update(task, description=name, completed=phases.index(name))

        out = io.StringIO() if as_json else None
        with contextlib.redirect_stdout(out) if out else contextlib.nullcontext():
            try:
                _demo(ns, phase, facts)
            except (ValueError, MemoryError) as err:
                raise UserError(f"cannot run the demo: {err}") from None
        bar.update(task, completed=len(phases))
    if as_json:
        _emit(facts)
    return 0


# -- run / proc ---------------------------------------------------------------------------------
def _run_scenario(path, quiet, backend=None, load_from=None):
    from ..scenario import ScenarioError, load
    try:
        s = load(path)
        if backend:
            s.machine["backend"] = backend
        if load_from is not None:           # continue a saved machine instead of booting one
            from ..errors import SnapshotError
            from ..kernel import Kernel
            try:
                k = Kernel.load(load_from)
            except (SnapshotError, OSError) as err:
                raise UserError(f"--load {load_from}: {err}") from None
            s.machine["backend"] = k.backend
        else:
            k = s.kernel()
        with _progress(quiet) as bar:
            task = bar.add_task(f"scenario {s.name}", total=len(s.actions))
            result = s.run(progress=lambda n: bar.update(task, completed=n), kernel=k)
    except ScenarioError as err:
        raise UserError(str(err)) from None
    return s, result


def _print_summary(sm):
    swap = f", {sm['swap'] >> 20}M swap" if sm["swap"] else ", no swap"
    click.echo(f"scenario {sm['scenario']}: {sm['mem'] >> 20}M RAM{swap}, {sm['cpus']} CPU(s), "
               f"{sm['backend']} backend, seed {sm['seed']}; {sm['actions']} actions, "
               f"{sm['time_ns'] / 1e9:.3f} s simulated")
    click.echo(f"{'PID':>5} {'NAME':<15} {'STATE':<11} {'MINFLT':>8} {'MAJFLT':>7} "
               f"{'RSS_kB':>9} {'SWAP_kB':>9}")
    for p in sm["processes"]:
        state = "running" if p["alive"] else ("oom-killed" if p["oom_killed"] else "exited")
        click.echo(f"{p['pid']:>5} {p['name'][:15]:<15} {state:<11} {p['min_flt']:>8} "
                   f"{p['maj_flt']:>7} {p.get('rss_anon_kb', 0) + p.get('rss_file_kb', 0):>9} "
                   f"{p.get('swap_kb', 0):>9}")
    if sm["events"]:
        click.echo("events:")
        for e in sm["events"]:
            who = f"{e['process']}: " if e["process"] else ""
            click.echo(f"  action {e['action']}: {who}{e['event']}")
    click.echo("meminfo: " + ", ".join(f"{k} {v} kB" for k, v in sm["meminfo_kb"].items()))
    click.echo("vmstat: " + ", ".join(f"{k} {v}" for k, v in sm["vmstat"].items()))


@cli.command(context_settings=CONTEXT)
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--backend", type=click.Choice(["c", "reference"]), default=None,
              help="override the scenario's backend")
@click.option("--save", "save_to", type=click.Path(dir_okay=False), default=None,
              help="write a snapshot of the final state to FILE (docs/snapshots.md)")
@click.option("--load", "load_from", type=click.Path(dir_okay=False), default=None,
              help="run the actions on the machine saved in FILE instead of booting one")
@_common
def run(scenario, backend, as_json, quiet, save_to, load_from):
    """Run SCENARIO (a TOML file, docs/cli.md) and print a summary: per process its faults,
    RSS and swap, the events (OOM kills, failed calls), meminfo and vmstat counters."""
    _, result = _run_scenario(scenario, quiet or as_json, backend, load_from)
    if save_to is not None:
        from ..errors import SnapshotError
        try:
            result.kernel.save(save_to)
        except (SnapshotError, OSError) as err:
            raise UserError(f"--save {save_to}: {err}") from None
    sm = result.summary()
    if as_json:
        _emit(sm)
    else:
        _print_summary(sm)
    return 0


@cli.command(context_settings=CONTEXT)
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.argument("path")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
def proc(scenario, path, quiet):
    """Print the /proc file PATH of SCENARIO's final state, e.g. /proc/meminfo, /proc/swaps,
    /proc/2/smaps; a process may be named instead of its pid: /proc/hog/status."""
    _, result = _run_scenario(scenario, quiet)
    parts = path.split("/")
    if len(parts) >= 4 and parts[1] == "proc" and parts[2] in result.processes:
        parts[2] = str(result.processes[parts[2]].pid)
    try:
        text = result.kernel.read("/".join(parts))
    except (FileNotFoundError, KeyError, ValueError):
        raise UserError(f"{path}: no such /proc file in linuxmm (e.g. /proc/meminfo, "
                        f"/proc/vmstat, /proc/swaps, /proc/<pid or name>/maps)", 2) from None
    click.echo(text, nl=False)
    return 0


# -- replay / record ----------------------------------------------------------------------------
def _replay(trace, kind, mem, swap, backend, quiet, save_npz=None):
    from .. import replay as R
    from ..replay import access, strace
    if kind is None:
        kind = R.detect(trace)
    with _progress(quiet) as bar:
        if kind == "strace":
            task = bar.add_task("replaying system calls", total=None)
            summary, _ = strace.replay(
                trace, mem=mem or "16G", backend=backend,
                progress=lambda n, total: bar.update(task, completed=n, total=total))
            return summary
        if kind == "lackey":
            task = bar.add_task("reading the lackey trace", total=None)
            addrs, writes, counts = access.read_lackey(
                trace, progress=lambda n, total: bar.update(task, completed=n, total=total))
        else:
            addrs, writes = access.read_npz(trace)
            counts = None
        if save_npz:
            access.save_npz(save_npz, addrs, writes)
        bar.add_task(f"replaying {len(addrs)} accesses", total=None)
        try:
            summary, _ = access.replay_access(addrs, writes, mem=mem or "1G", swap=swap,
                                              backend=backend)
        except (ValueError, MemoryError) as err:
            raise UserError(f"cannot replay {trace}: {err}") from None
    summary = {"trace": trace, "kind": kind, **summary}
    if counts is not None:
        summary["lines"] = counts
    return summary


def _print_replay(sm, show_all):
    if sm["kind"] == "strace":
        rows = sm["results"] if show_all else sm["mismatches"]
        for r in rows:
            mark = "=" if r["match"] else "!"
            click.echo(f"{mark} {r['pid']} {r['call']} = {r['kernel']}"
                       + ("" if r["match"] else f"   linuxmm: {r['linuxmm']}"))
        extra = ""
        if sm["unsupported"]:
            extra = " (not replayed: " + ", ".join(f"{n} {c}" for n, c in
                                                   sorted(sm["unsupported"].items())) + ")"
        click.echo(f"{sm['trace']}: {sm['calls']} calls in {sm['processes']} process(es), "
                   f"{sm['matched']} returned what the kernel returned, "
                   f"{len(sm['mismatches'])} differ{extra}")
        return
    click.echo(f"{sm['trace']} ({sm['kind']}): {sm['accesses']} accesses ({sm['writes']} "
               f"writes) to {sm['pages']} pages in {sm['regions']} region(s); "
               f"{sm['mem'] >> 20}M RAM, {sm['swap'] >> 20}M swap, {sm['backend']} backend")
    if sm["outside"]:
        click.echo(f"  {sm['outside']} accesses outside user space were left out")
    if sm["killed"]:
        click.echo(f"  the process was {sm['killed']}")
    else:
        click.echo(f"  faults: {sm['min_flt']} minor, {sm['maj_flt']} major; RSS "
                   f"{sm['rss_kb']} kB, swap {sm['swap_kb']} kB")
    click.echo(f"  vmstat: pswpin {sm['pswpin']}, pswpout {sm['pswpout']}, pgsteal_kswapd "
               f"{sm['pgsteal_kswapd']}, pgsteal_direct {sm['pgsteal_direct']}, oom_kill "
               f"{sm['oom_kill']}")


def _replay_options(f):
    f = click.option("--backend", type=click.Choice(["c", "reference"]), default="c",
                     help="C core or the pure-Python reference models")(f)
    f = click.option("--swap", default="1G", help="swap of the machine (access traces)")(f)
    f = click.option("--mem", default=None,
                     help="RAM of the machine [default: 16G for strace, 1G for access traces]")(f)
    return f


def _check_sizes(mem, swap):
    from ..units import parse_size
    for name, value in (("--mem", mem), ("--swap", swap)):
        if value is not None:
            try:
                parse_size(value)
            except (TypeError, ValueError) as err:
                raise UserError(f"{name}: {err}", 2) from None


@cli.command(context_settings=CONTEXT)
@click.argument("trace", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", type=click.Choice(["strace", "lackey", "npz"]), default=None,
              help="trace kind [default: detected from the file]")
@_replay_options
@click.option("--all", "show_all", is_flag=True, help="strace: print every call, not only "
              "the ones that differ")
@click.option("--save-npz", type=click.Path(dir_okay=False), default=None,
              help="access traces: also save them as a compact .npz")
@_common
def replay(trace, kind, mem, swap, backend, show_all, save_npz, as_json, quiet):
    """Replay TRACE: an strace -f -y log (every memory system call made again and compared
    with the kernel's result), valgrind lackey --trace-mem=yes output or a .npy/.npz access
    trace (page faults, reclaim and swap at --mem/--swap)."""
    from ..replay import TraceError
    _check_sizes(mem, swap)
    try:
        sm = _replay(trace, kind, mem, swap, backend, quiet or as_json, save_npz)
    except TraceError as err:
        raise UserError(str(err)) from None
    if as_json:
        sm = dict(sm)
        sm.pop("results", None) if not show_all else None
        _emit(sm)
    else:
        _print_replay(sm, show_all)
    return 0


ADDR_NO_RANDOMIZE = 0x0040000


def _no_aslr():
    """In the child before exec: personality(ADDR_NO_RANDOMIZE), as setarch -R does."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    current = libc.personality(0xffffffff)
    libc.personality(current | ADDR_NO_RANDOMIZE)


@cli.command(context_settings={**CONTEXT, "ignore_unknown_options": True})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="where to save the strace log [default: CMD.strace]")
@click.option("--all", "show_all", is_flag=True, help="print every call, not only the ones "
              "that differ")
@_common
def record(command, output, show_all, as_json, quiet):
    """Run COMMAND on this host under strace (-f -y, memory calls, execve and clone) with address
    randomization off (setarch -R), save the log, replay it and print the comparison.
    Write the command after --:  linuxmm record -- ls -l /"""
    from ..replay import TraceError
    strace_bin = shutil.which("strace")
    if strace_bin is None:
        raise UserError("strace is not installed on this host (apt install strace)")
    if not sys.platform.startswith("linux"):
        raise UserError("record needs a Linux host")
    exe = shutil.which(command[0])
    if exe is None:
        raise UserError(f"{command[0]}: command not found")
    output = output or os.path.basename(command[0]) + ".strace"
    argv = [strace_bin, "-f", "-y", "-s", "4096", "-e", "trace=%memory,execve,clone,clone3,fork,vfork",
            "-o", output, os.path.abspath(exe), *command[1:]]
    try:
        done = subprocess.run(argv, preexec_fn=_no_aslr,
                              stdout=sys.stderr if as_json else None)
    except OSError as err:
        raise UserError(f"cannot run strace: {err.strerror}") from None
    if not os.path.exists(output) or not os.path.getsize(output):
        raise UserError(f"strace wrote no log (exit status {done.returncode}); is ptrace "
                        f"allowed here?")
    try:
        sm = _replay(output, "strace", None, None, "c", quiet or as_json)
    except TraceError as err:
        raise UserError(str(err)) from None
    sm["exit_status"] = done.returncode
    sm["command"] = list(command)
    if as_json:
        if not show_all:
            sm.pop("results", None)
        _emit(sm)
    else:
        _print_replay(sm, show_all)
        click.echo(f"log saved to {output}; command exit status {done.returncode}")
    return 0


from . import report as _report_commands  # noqa: E402,F401  (report, sweep)


# -- entry point --------------------------------------------------------------------------------
def main(argv=None):
    """The console script: returns the exit status (errors are one line on stderr)."""
    try:
        rv = cli.main(args=argv, prog_name="linuxmm", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        msg = " ".join(e.format_message().split())
        if isinstance(e, click.UsageError) and not isinstance(e, UserError):
            msg += " (see linuxmm --help)" if e.ctx is None else \
                f" (see {e.ctx.command_path} --help)"
        click.echo(f"linuxmm: error: {msg}", err=True)
        return e.exit_code
    except click.Abort:
        click.echo("linuxmm: aborted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except (OSError, ValueError, MemoryError) as e:       # anything a user's input can cause
        if os.environ.get("LINUXMM_DEBUG"):
            raise
        click.echo(f"linuxmm: error: {e}", err=True)
        return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
