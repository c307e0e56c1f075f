#!/usr/bin/env python3
"""Drive `make demo` as a person would, under real pseudo-terminals, and say
whether each step happened (root; boots the guest once):

  tests/vm/demo_check.py

1. `tests/vm/run demo` in a pty: the demo prints the passphrase, keygate's
   prompt appears on the LOM line it connects the terminal to;
2. while the boot is held, `demo.py shell` in a second pty: `keygate status`
   there names the locked dataset; Ctrl-] leaves it;
3. the passphrase typed into the first pty: the boot goes on to a login
   prompt on that line; root logs in and reads a file of the dataset;
4. Ctrl-]: the demo powers the guest off, removes the overlay, exits 0, and
   the terminal is back in the mode it was in.
"""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time
from pathlib import Path

VM_DIR = Path(__file__).resolve().parent
REPO = VM_DIR.parent.parent
RUNDIR = Path(os.environ.get("KEYGATE_VM_DEMO_DIR", REPO / "target" / "vm-demo"))
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r")


class Pty:
    def __init__(self, argv: list[str]):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(REPO)
            os.execvp(argv[0], argv)
        self.buf = b""
        self.t0 = time.monotonic()

    def text(self) -> str:
        return ANSI.sub(b"", self.buf).decode("utf-8", "replace")

    def expect(self, pattern: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while not rx.search(self.text()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"FAIL: did not see {pattern!r} in {timeout:.0f}s; last output:\n"
                                 f"{self.text()[-1500:]}")
            r, _, _ = select.select([self.fd], [], [], min(left, 1))
            if r:
                try:
                    self.buf += os.read(self.fd, 65536)
                except OSError:
                    raise SystemExit(f"FAIL: the program ended before {pattern!r}:\n{self.text()[-1500:]}")
        return time.monotonic() - self.t0

    def type(self, text: str) -> None:
        for ch in text.encode():
            os.write(self.fd, bytes([ch]))
            time.sleep(0.02)

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.5)
            if r:
                try:
                    self.buf += os.read(self.fd, 65536)
                except OSError:
                    pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        raise SystemExit(f"FAIL: still running after {timeout:.0f}s")


def ok(msg: str) -> None:
    print(f"ok: {msg}", flush=True)


def main() -> int:
    RUNDIR.mkdir(parents=True, exist_ok=True)
    stty = RUNDIR / "demo-check-stty"
    # The terminal's settings before and after, as the demo's own shell sees them.
    demo = Pty(["bash", "-c", f'stty -g >"{stty}.before"; "{VM_DIR / "run"}" demo; rc=$?; '
                f'stty -g >"{stty}.after"; exit $rc'])
    m = re.search(r"The passphrase is:\s+(\S+)", demo.text()) if demo.expect(
        r"The passphrase is:\s+\S+", 3600) else None
    passphrase = m.group(1) if m else ""
    ok(f"the demo printed the passphrase ({passphrase}) after {time.monotonic() - demo.t0:.0f}s")
    t = demo.expect(r"Enter passphrase for nest/secret[^\n]*: ", 600)
    ok(f"keygate's prompt on the LOM line, {t:.0f}s after `make demo` started")

    shell = Pty([str(VM_DIR / "demo.py"), "shell", "--rundir", str(RUNDIR)])
    shell.expect(r"root shell \(ttyS2\)", 30)
    shell.type("keygate status\r")
    shell.expect(r"nest/secret", 60)
    ok("`make demo-shell` while held: `keygate status` names nest/secret")
    shell.type("\x1d")
    rc = shell.wait(30)
    ok(f"Ctrl-] left the demo shell (exit {rc})")

    t0 = time.monotonic()
    demo.type(passphrase + "\r")
    demo.expect(r"login: ", 600)
    ok(f"after the passphrase the boot went on to a login prompt on the LOM line "
       f"({time.monotonic() - t0:.0f}s)")
    if passphrase in demo.text().split("Enter passphrase", 1)[1]:
        raise SystemExit("FAIL: the passphrase was echoed")
    ok("the passphrase was not echoed")
    demo.type("root\r")
    demo.expect(r"root@kgvm[^\n]*# ", 120)
    demo.type("cat /nest/secret/hello; keygate status; echo rc=$?\r")
    demo.expect(r"rc=\d", 60)
    if "this file lives on the encrypted dataset nest/secret" not in demo.text():
        raise SystemExit(f"FAIL: the dataset's file was not readable:\n{demo.text()[-800:]}")
    ok("logged in as root on the LOM line; the encrypted dataset's file is readable")

    demo.type("\x1d")
    demo.expect(r"guest powered off, overlay removed", 120)
    rc = demo.wait(60)
    if rc != 0:
        raise SystemExit(f"FAIL: make demo exited {rc}")
    left = [f.name for f in RUNDIR.iterdir() if f.suffix in (".qcow2", ".img", ".sock")]
    if left:
        raise SystemExit(f"FAIL: left in {RUNDIR}: {left}")
    ok(f"Ctrl-]: guest powered off, overlay and disks removed, exit 0 "
       f"(total {time.monotonic() - demo.t0:.0f}s)")
    before, after = (Path(f"{stty}.{w}").read_text() for w in ("before", "after"))
    if before != after:
        raise SystemExit(f"FAIL: terminal settings changed: {before.strip()} -> {after.strip()}")
    ok("the terminal's settings are as before the demo")
    for w in ("before", "after"):
        Path(f"{stty}.{w}").unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
