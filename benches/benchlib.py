"""Shared helpers for the benchmark scripts in benches/ (python3 stdlib only).

Builds the release binaries, lays out zfs-sim state directories, times
commands, and prints tables. Every figure a script reports is the median of
several runs made in the same invocation, so ratios compare like with like on
a shared, noisy machine.
"""

import argparse
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_DIR = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
if not os.path.isabs(TARGET_DIR):
    TARGET_DIR = os.path.join(REPO, TARGET_DIR)
RELEASE = os.path.join(TARGET_DIR, "release")
KEYGATE = os.path.join(RELEASE, "keygate")
ZFS_SIM = os.path.join(RELEASE, "zfs-sim")

# Service-manager variables keygate would react to; benches run it bare.
_MANAGER_VARS = ("NOTIFY_SOCKET", "SMF_FMRI", "RC_SVCNAME", "KEYGATE_ROOT")


def arg_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--no-build",
        action="store_true",
        help="use the binaries already in $CARGO_TARGET_DIR/release",
    )
    return p


def build(skip=False):
    """`cargo build --release --locked` (keygate and zfs-sim)."""
    if not skip:
        print(f"building release binaries in {TARGET_DIR} ...", flush=True)
        subprocess.run(
            ["cargo", "build", "--release", "--locked", "--bins"],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    for b in (KEYGATE, ZFS_SIM):
        if not os.path.exists(b):
            sys.exit(f"{b} missing; build first (cargo build --release --locked)")


def machine_line():
    """One line saying where the figures come from."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (
        f"machine: {platform.node()}, {os.cpu_count()} CPUs ({cpu}), "
        f"Linux {platform.release()}, load average {load[0]:.2f} at start"
    )


def gate_has(flag):
    """Whether this keygate's `gate` takes `flag` (features land over time)."""
    r = subprocess.run([KEYGATE, "gate", "--help"], capture_output=True, text=True)
    return flag in r.stdout


def gate_isolation(tmpdir):
    """Arguments that keep a benchmarked gate off the host's /run: its own
    control socket in `tmpdir`, and no systemd ask-password requests."""
    args = []
    if gate_has("--socket"):
        args += ["--socket", os.path.join(tmpdir, "control.sock")]
    if gate_has("--no-ask-password"):
        args.append("--no-ask-password")
    return args


class Contention:
    """How much CPU everything else on the machine took while a bench ran:
    all busy time in /proc/stat minus this script's own and its children's."""

    def __init__(self):
        self.busy0, self.mine0, self.t0 = _busy_seconds(), _my_cpu(), time.monotonic()

    def others(self):
        """CPUs (on average) used by other processes so far."""
        wall = time.monotonic() - self.t0
        others = (_busy_seconds() - self.busy0) - (_my_cpu() - self.mine0)
        return max(others, 0) / wall

    def report(self):
        wall = time.monotonic() - self.t0
        cpus = os.cpu_count() or 1
        return (
            f"other processes used {self.others():.2f} of {cpus} CPUs on average "
            f"during this run ({wall:.0f} s); load average {os.getloadavg()[0]:.2f} at the end"
        )


def _busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _my_cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Sim:
    """A zfs-sim state directory with `bin/zfs` linked to the simulator."""

    def __init__(self, lines, config=None):
        self.root = tempfile.mkdtemp(prefix="keygate-bench-")
        self.state = os.path.join(self.root, "state")
        self.bin = os.path.join(self.root, "bin")
        os.makedirs(self.state)
        os.makedirs(self.bin)
        os.symlink(ZFS_SIM, os.path.join(self.bin, "zfs"))
        self.zfs = os.path.join(self.bin, "zfs")
        self.write_state(lines)
        if config:
            with open(os.path.join(self.state, "config"), "w") as f:
                f.write("\n".join(config) + "\n")

    def write_state(self, lines):
        with open(os.path.join(self.state, "datasets"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def env(self):
        e = {k: v for k, v in os.environ.items() if k not in _MANAGER_VARS}
        e["ZFS_SIM_DIR"] = self.state
        e["PATH"] = self.bin + os.pathsep + e.get("PATH", "")
        e["LC_ALL"] = "C"
        return e

    def reset_calls(self):
        open(os.path.join(self.state, "calls.log"), "w").close()

    def calls(self):
        try:
            with open(os.path.join(self.state, "calls.log")) as f:
                return [l.rstrip("\n") for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def keystatus(self, names):
        """keystatus of each of `names`, with one batched get."""
        out = subprocess.run(
            [self.zfs, "get", "-H", "-o", "name,value", "keystatus"] + list(names),
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(l.split("\t", 1) for l in out.splitlines())

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def timed(fn):
    """Wall seconds taken by fn()."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median(xs):
    return statistics.median(xs)


def spread(xs):
    """min..max, to show how noisy a median is."""
    return f"{min(xs) * 1000:.1f}..{max(xs) * 1000:.1f}"


def ms(x):
    return f"{x * 1000:.1f}"


def table(header, rows, left=False):
    """Prints a plain aligned table (numbers right-aligned unless `left`)."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, r in enumerate(cells):
        print("  ".join(c.rjust(w) if i and not left else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


class Pty:
    """A pseudo-terminal pair; everything keygate writes is collected."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.buf = b""
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                with self.lock:
                    self.buf += data

    def wait_for(self, text, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if text in self.buf:
                    return
            time.sleep(0.002)
        raise TimeoutError(f"no {text!r} on {self.path}; got {self.buf[-300:]!r}")

    def close(self):
        self.stop = True
        self.thread.join()
        os.close(self.master)
        os.close(self.slave)
