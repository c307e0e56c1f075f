#!/usr/bin/env python3
"""keygate demo: a real machine held by keygate, in your terminal.

  demo.py boot  --image DIR --deb FILE --rundir DIR [--accel kvm|tcg]
  demo.py shell --rundir DIR

`boot` (what `make demo` runs, through tests/vm/run demo) installs the
package in a fresh overlay of the VM tier's guest image (the harness's install
boot), creates an encrypted dataset, prints its passphrase, boots the guest
and connects this terminal to its LOM line, ttyS1, in raw mode: keygate holds
the boot there with its prompt, and once the passphrase is typed the boot
goes on to a login prompt on that same line. Ctrl-] leaves: the guest is
powered off and its overlay and disks removed (the serial logs stay in
--rundir).

`shell` (`make demo-shell`, in a second terminal) connects to the guest's
root shell on ttyS2, which the running demo relays, also while keygate holds
the boot: try `keygate status` and `keygate unlock` there. Ctrl-] leaves it.

Stdlib only; the guest, its payload and the install boot are the harness's.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import sys
import termios
import threading
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

ESCAPE = b"\x1d"  # Ctrl-]
PASSPHRASE = "keygate-demo"
DATASET = "nest/secret"
SHELL_SOCKET = "demo-shell.sock"
# What the install boot sets up (the harness runs it like a scenario's SETUP):
# the encrypted dataset; keygate as packaged, plus the one setting a machine
# with a LOM line needs, --console /dev/ttyS1 (under systemd keygate prompts
# itself only on consoles it is told about; the kernel console, ttyS0, is
# asked by systemd's console agent); a login prompt on ttyS1 once the boot is
# through, with a banner saying what happened.
SETUP = rf"""
scenario_setup() {{
    mk_root {DATASET} {PASSPHRASE} 100000
    echo "this file lives on the encrypted dataset {DATASET}" >/{DATASET}/hello
    gate_dropin --console /dev/ttyS1
    systemctl enable serial-getty@ttyS1.service
    mkdir -p /etc/issue.d
    cat >/etc/issue.d/keygate-demo.issue <<'ISSUE'

keygate let the boot go on: {DATASET} is unlocked and mounted at /{DATASET}.
Log in as root (no password); try `keygate status`, `zfs get keystatus {DATASET}`.
Ctrl-] leaves the demo and powers the guest off.

ISSUE
}}
"""


class DemoModule:
    """What harness.Test.install() needs of a scenario."""
    NAME = "demo"
    DESCRIPTION = "make demo"
    SETUP = SETUP


def say(msg: str) -> None:
    # \r: correct in raw mode too.
    sys.stderr.write(f"\r[demo] {msg}\r\n")
    sys.stderr.flush()


class RawTerminal:
    """This terminal in raw mode, restored exactly on every exit."""

    def __init__(self, fd: int):
        self.fd = fd
        self.saved = termios.tcgetattr(fd) if os.isatty(fd) else None

    def __enter__(self) -> "RawTerminal":
        if self.saved is not None:
            tty.setraw(self.fd)
        return self

    def __exit__(self, *_exc) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def forward_output(line: harness.Serial, start: int, write, stop: threading.Event) -> None:
    """Copy what the guest sends on `line` (from byte `start`) to `write`."""
    pos = start
    while not stop.is_set():
        with line.cond:
            while len(line.buf) <= pos and not line.closed and not stop.is_set():
                line.cond.wait(0.2)
            data = bytes(line.buf[pos:])
            pos += len(data)
            closed = line.closed
        if data:
            try:
                write(data)
            except OSError:
                return
        if closed:
            return


def interact(line: harness.Serial, stop: threading.Event) -> str:
    """Connect stdin/stdout to `line` until Ctrl-], the guest going away or
    `stop`. Returns why it ended."""
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    t = threading.Thread(target=forward_output, args=(line, 0, write, stop), daemon=True)
    t.start()
    fd = sys.stdin.fileno()
    while not stop.is_set():
        if line.closed:
            return "the guest closed the line"
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        data = os.read(fd, 1024)
        if not data:
            return "end of input"
        if ESCAPE in data:
            before = data.split(ESCAPE, 1)[0]
            if before:
                line.send(before)
            return "Ctrl-]"
        line.send(data)
    return "stopped"


def relay_shell(line: harness.Serial, path: Path, stop: threading.Event) -> None:
    """Serve the guest's root shell (ttyS2) on a unix socket, one client at a
    time, for `demo.py shell`."""
    path.unlink(missing_ok=True)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    os.chmod(path, 0o600)
    srv.listen(1)
    srv.settimeout(0.5)
    while not stop.is_set():
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        client_stop = threading.Event()

        def send(data: bytes, conn=conn) -> None:
            conn.sendall(data)

        t = threading.Thread(target=forward_output, args=(line, line.mark(), send, client_stop), daemon=True)
        t.start()
        conn.settimeout(0.5)
        while not stop.is_set():
            try:
                data = conn.recv(1024)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            line.send(data)
        client_stop.set()
        conn.close()
    srv.close()
    path.unlink(missing_ok=True)


def remove_disks(rundir: Path) -> None:
    for f in ("root.qcow2", "pool0.img", "pool1.img", "payload.img"):
        (rundir / f).unlink(missing_ok=True)
    for f in rundir.glob("*.sock"):
        f.unlink(missing_ok=True)


def boot(args: argparse.Namespace) -> int:
    rundir = Path(args.rundir)
    rundir.mkdir(parents=True, exist_ok=True)
    ns = argparse.Namespace(image=args.image, stage=".", deb=args.deb, results=str(rundir),
                            accel=args.accel)
    cfg = harness.Config(ns)
    test = harness.Test(cfg, "demo", DemoModule, rundir)
    stop = threading.Event()
    vm = None

    def on_signal(signum, _frame):
        if stop.is_set():
            return  # already leaving: let the clean-up finish
        stop.set()
        raise KeyboardInterrupt

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        say("installing keygate from its Debian package in a fresh guest, creating the "
            f"encrypted dataset {DATASET} (the install boot, about a minute)")
        t0 = time.monotonic()
        test.install()
        say(f"installed in {time.monotonic() - t0:.0f}s; booting the guest")
        vm = harness.Vm(cfg, rundir, "demo").start()
        relay = threading.Thread(target=relay_shell, args=(vm.lines["ttyS2"], rundir / SHELL_SOCKET, stop),
                                 daemon=True)
        relay.start()
        say("this terminal is now the guest's LOM line (ttyS1). keygate will hold the boot here")
        say(f"and ask for the passphrase of {DATASET}. The passphrase is:  {PASSPHRASE}")
        say("Another terminal: `make demo-shell` for the guest's root shell (keygate status,")
        say(f"keygate unlock). Ctrl-] leaves and powers the guest off. Logs: {rundir}")
        with RawTerminal(sys.stdin.fileno()):
            why = interact(vm.lines["ttyS1"], stop)
        say(f"leaving ({why}): powering the guest off")
    except KeyboardInterrupt:
        say("interrupted: powering the guest off")
    except harness.ScenarioFailed as e:
        say(f"the demo failed: {e} (logs in {rundir})")
        return 1
    finally:
        stop.set()
        if vm is not None:
            vm.poweroff(timeout=60)
        if test.vm is not None:
            test.vm.kill()
        remove_disks(rundir)
    say("guest powered off, overlay removed")
    return 0


def shell(args: argparse.Namespace) -> int:
    path = Path(args.rundir) / SHELL_SOCKET
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError as e:
        print(f"demo-shell: no running demo at {path} ({e.strerror}); start one with `make demo`",
              file=sys.stderr)
        return 1
    say("the guest's root shell (ttyS2); Ctrl-] leaves it (the demo keeps running)")
    # An interactive bash without prompts serves the test harness; give this
    # shell a prompt and this terminal's type.
    conn.sendall(f"\nPS1='demo-shell:\\w# '; TERM={os.environ.get('TERM', 'vt100')}\n".encode())
    fd = sys.stdin.fileno()
    with RawTerminal(fd):
        while True:
            r, _, _ = select.select([fd, conn], [], [])
            if conn in r:
                data = conn.recv(4096)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if fd in r:
                data = os.read(fd, 1024)
                if not data or ESCAPE in data:
                    conn.sendall(data.split(ESCAPE, 1)[0])
                    break
                conn.sendall(data)
    conn.close()
    say("left the guest's shell")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("boot")
    b.add_argument("--image", required=True)
    b.add_argument("--deb", required=True)
    b.add_argument("--rundir", required=True)
    b.add_argument("--accel", choices=["kvm", "tcg"], default="tcg")
    s = sub.add_parser("shell")
    s.add_argument("--rundir", required=True)
    args = ap.parse_args()
    return boot(args) if args.cmd == "boot" else shell(args)


if __name__ == "__main__":
    sys.exit(main())
