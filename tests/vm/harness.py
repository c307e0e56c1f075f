#!/usr/bin/env python3
"""keygate VM tier: boot the guest with qemu and drive its serial lines.

Called by tests/vm/run once the image and the keygate staging tree exist.
Serial lines (each a unix socket on the host, logged to the run directory):
  ttyS0  the guest console (kernel console, systemd status, console prompts)
  ttyS1  the LOM/BMC serial line
  ttyS2  a root shell, the harness's command channel (kgvm-shell.service)

Stdlib only.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import gzip
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

VM_DIR = Path(__file__).resolve().parent
SCENARIO_DIR = VM_DIR / "scenarios"
PAYLOAD_DIR = VM_DIR / "payload"

BOOT_TIMEOUT = float(os.environ.get("KEYGATE_VM_BOOT_TIMEOUT", "240"))
INSTALL_TIMEOUT = float(os.environ.get("KEYGATE_VM_INSTALL_TIMEOUT", "300"))
POOL_DISK_SIZE = 256 * 1024 * 1024

_LIVE_QEMUS: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[vm {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class ScenarioFailed(Exception):
    pass


class ScenarioSkipped(Exception):
    pass


# --------------------------------------------------------------------------
# serial lines


class Serial:
    """One qemu serial port: a unix socket, read by a thread into a buffer."""

    def __init__(self, name: str, path: Path, log_path: Path):
        self.name = name
        self.path = path
        self.buf = bytearray()
        self.cond = threading.Condition()
        self.closed = False
        self.sock: socket.socket | None = None
        self.log = open(log_path, "ab")
        self.cursor = 0

    def connect(self, deadline: float, proc: subprocess.Popen) -> None:
        while True:
            if proc.poll() is not None:
                raise ScenarioFailed(f"qemu exited (rc={proc.returncode}) before {self.name} was connected")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(str(self.path))
                self.sock = s
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise ScenarioFailed(f"cannot connect to {self.name} socket {self.path}")
                time.sleep(0.05)
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.buf += data
                self.log.write(data)
                self.log.flush()
                self.cond.notify_all()

    def text(self, start: int = 0) -> str:
        with self.cond:
            return clean(bytes(self.buf[start:]))

    def mark(self) -> int:
        with self.cond:
            return len(self.buf)

    def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        assert self.sock is not None
        self.sock.sendall(data)

    def type(self, text: str, delay: float = 0.01) -> None:
        """Type like a person (or a slow BMC): one byte at a time."""
        for ch in text.encode():
            self.send(bytes([ch]))
            time.sleep(delay)

    def expect(self, pattern: str, timeout: float, since: int | None = None,
               what: str | None = None) -> re.Match:
        """Wait for a regex in the cleaned text after `since` (default: the
        cursor). Moves the cursor past the match."""
        rx = re.compile(pattern)
        start = self.cursor if since is None else since
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                raw = bytes(self.buf[start:])
                m = rx.search(clean(raw))
                if m:
                    # Map the match end back to a byte offset (approximately:
                    # clean() only removes bytes, so the raw end is >= m.end()).
                    self.cursor = start + raw_offset(raw, m.end())
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    why = "line closed" if self.closed else f"{timeout:.0f}s timeout"
                    raise ScenarioFailed(
                        f"{self.name}: did not see {what or repr(pattern)} ({why})")
                self.cond.wait(min(left, 1.0))

    def close(self) -> None:
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.log.close()


ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r")


def clean(raw: bytes) -> str:
    return ANSI.sub(b"", raw).decode("utf-8", "replace")


def raw_offset(raw: bytes, clean_end: int) -> int:
    """Smallest raw offset whose cleaned prefix has length >= clean_end."""
    lo, hi = 0, len(raw)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(clean(raw[:mid])) >= clean_end:
            hi = mid
        else:
            lo = mid + 1
    return lo


class Shell:
    """The root shell on ttyS2: run a command, get (rc, output)."""

    def __init__(self, line: Serial):
        self.line = line
        self.n = 0
        self.ready = False

    # The setup line, and the token it prints only when every setting took:
    # empty prompts, no history expansion (no H in $-), echo off. While the
    # guest's getty and shell start, the tty can flush input mid-line; a line
    # that lost "stty -echo" but kept the echo used to pass, and then every
    # command came back with its own text echoed into the output.
    SETUP = ("PS1=; PS2=; set +H; stty -echo 2>/dev/null; "
             "echo KGVM_READY_$((40+2))_${#PS1}${#PS2}${-//[^H]/}_"
             "$(stty -a 2>/dev/null | grep -cE -- '(^| )-echo( |$)')")
    READY = r"KGVM_READY_42_00_1\b"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            mark = self.line.mark()
            self.line.send(f"\n{self.SETUP}\n")
            try:
                self.line.expect(self.READY, 3, since=mark)
                self.ready = True
                return
            except ScenarioFailed:
                if time.monotonic() > deadline:
                    raise ScenarioFailed("command shell on ttyS2 never answered")

    def run(self, cmd: str, timeout: float = 60, answers: list[tuple[str, str]] | None = None,
            check: bool = False) -> tuple[int, str]:
        if not self.ready:
            self.wait_ready(BOOT_TIMEOUT)
        self.n += 1
        tag = f"{os.getpid()}x{self.n}"
        mark = self.line.mark()
        self.line.send(f"printf '\\n__KGVM_BEGIN_{tag}__\\n'\n{{ {cmd}\n}}; "
                       f"printf '\\n__KGVM_END_{tag}_%d__\\n' $?\n")
        end_rx = re.compile(rf"__KGVM_BEGIN_{tag}__\n(.*?)\n?__KGVM_END_{tag}_(\d+)__", re.S)
        pending = list(answers or [])
        answered = 0  # text offset up to which prompts were already answered
        deadline = time.monotonic() + timeout
        with self.line.cond:
            while True:
                text = clean(bytes(self.line.buf[mark:]))
                m = end_rx.search(text)
                if m:
                    self.line.cursor = self.line.mark()
                    rc, out = int(m.group(2)), m.group(1)
                    if check and rc != 0:
                        raise ScenarioFailed(f"guest command failed (rc={rc}): {cmd}\n{out}")
                    return rc, out
                begin = text.find(f"__KGVM_BEGIN_{tag}__")
                if pending and begin >= 0:
                    pm = re.compile(pending[0][0]).search(text, max(begin, answered))
                    if pm:
                        answered = pm.end()
                        reply = pending.pop(0)[1]
                        self.line.cond.release()
                        try:
                            time.sleep(0.3)
                            self.line.send(reply)
                        finally:
                            self.line.cond.acquire()
                        continue
                left = deadline - time.monotonic()
                if left <= 0 or self.line.closed:
                    if not self.line.closed:
                        # interrupt it, so the shell can serve the next command
                        self.line.send(b"\x03\x03\n")
                        self.ready = False
                    raise ScenarioFailed(f"guest command did not finish in {timeout:.0f}s: {cmd}")
                self.line.cond.wait(min(left, 1.0))

    def fetch(self, guest_cmd: str, timeout: float = 120) -> bytes:
        """Run a command whose stdout is data; returns the bytes."""
        rc, out = self.run(f"{{ {guest_cmd} ; }} | gzip -1 | base64 -w0", timeout=timeout)
        data = "".join(out.split())
        try:
            return gzip.decompress(base64.b64decode(data))
        except Exception as e:  # noqa: BLE001 - report what came back
            raise ScenarioFailed(f"fetch of `{guest_cmd}` failed (rc={rc}): {e}")


# --------------------------------------------------------------------------
# qemu


def set_pdeathsig() -> None:
    """In the qemu child: die with the harness."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setsid()


class Vm:
    def __init__(self, cfg: "Config", rundir: Path, label: str, cmdline_extra: str = "",
                 payload: Path | None = None, console: str = "ttyS0", tpm: Path | None = None):
        self.cfg = cfg
        # A software TPM 2.0 for this boot (scenarios with TPM = True): swtpm
        # keeps its state in this directory, so boots that share it see the
        # same TPM, and qemu attaches it as a CRB device (/dev/tpmrm0).
        self.tpm = tpm
        self.swtpm: subprocess.Popen | None = None
        self.rundir = rundir
        self.label = label
        self.cmdline_extra = cmdline_extra
        # The kernel console, hence /dev/console. Linux takes one console per
        # serial driver, so this is the only serial line that is one.
        self.console = console
        self.payload = payload
        self.proc: subprocess.Popen | None = None
        self.lines: dict[str, Serial] = {}
        self.t_start = 0.0

    def machine_argv(self, initrd: Path, cmdline: str) -> list[str]:
        """qemu with the image's kernel, INITRD and the kernel command line
        (the console and the settings every boot has, then CMDLINE)."""
        cmdline = (f"{cmdline} console={self.console},115200 panic=-1 "
                   "systemd.show_status=1 net.ifnames=0 " + self.cmdline_extra)
        return ["qemu-system-x86_64", "-machine", "pc", *self.cfg.accel_args,
                "-smp", "2", "-m", "2048", "-nodefaults", "-no-user-config",
                "-display", "none", "-vga", "none", "-nic", "none", "-no-reboot",
                "-kernel", str(self.cfg.image_dir / "vmlinuz"), "-initrd", str(initrd),
                "-append", " ".join(cmdline.split())]

    def serial_argv(self) -> list[str]:
        """The three serial lines, each a unix socket qemu waits on."""
        argv: list[str] = []
        for i in range(3):
            sock = self.rundir / f"ttyS{i}.sock"
            argv += ["-chardev", f"socket,id=s{i},path={sock},server=on,wait=on",
                     "-serial", f"chardev:s{i}"]
        return argv

    def qemu_argv(self) -> list[str]:
        img = self.cfg.image_dir
        argv = self.machine_argv(img / "initrd.img", "root=LABEL=kgroot rw")
        argv += ["-drive", f"file={self.rundir / 'root.qcow2'},if=virtio,format=qcow2,cache=unsafe,discard=unmap"]
        for i in range(2):
            argv += ["-drive", f"file={self.rundir / f'pool{i}.img'},if=none,id=pool{i},format=raw,cache=unsafe",
                     "-device", f"virtio-blk-pci,drive=pool{i},serial=pool{i}"]
        # Extra disks a scenario asks for (EXTRA_DISKS), after the pool disks:
        # /dev/disk/by-id/virtio-NAME in the guest.
        for img in sorted(self.rundir.glob("extra-*.img")):
            serial = img.stem[len("extra-"):]
            argv += ["-drive", f"file={img},if=none,id=x{serial},format=raw,cache=unsafe",
                     "-device", f"virtio-blk-pci,drive=x{serial},serial={serial}"]
        if self.tpm:
            argv += ["-chardev", f"socket,id=chrtpm,path={self.tpm_socket()}",
                     "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                     "-device", "tpm-crb,tpmdev=tpm0"]
        if self.payload:
            argv += ["-drive", f"file={self.payload},if=none,id=payload,format=raw,readonly=on",
                     "-device", "virtio-blk-pci,drive=payload,serial=kgpayload"]
        return argv + self.serial_argv()

    def tpm_socket(self) -> Path:
        return self.rundir / f"{self.label}-swtpm.sock"

    def start_swtpm(self) -> None:
        """swtpm for this boot; it ends when qemu closes its control channel
        (--terminate). qemu's firmware sends TPM2_Startup itself."""
        assert self.tpm
        self.tpm.mkdir(exist_ok=True)
        sock = self.tpm_socket()
        sock.unlink(missing_ok=True)
        self.swtpm = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.tpm}",
             "--ctrl", f"type=unixio,path={sock}", "--terminate",
             "--log", f"file={self.rundir / f'{self.label}-swtpm.log'},level=5"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=set_pdeathsig)
        deadline = time.monotonic() + 10
        while not sock.exists():
            if self.swtpm.poll() is not None or time.monotonic() > deadline:
                raise ScenarioFailed(f"{self.label} boot: swtpm did not start (see {self.label}-swtpm.log)")
            time.sleep(0.05)

    def start(self) -> "Vm":
        for i in range(3):
            (self.rundir / f"ttyS{i}.sock").unlink(missing_ok=True)
        if self.tpm:
            self.start_swtpm()
        argv = self.qemu_argv()
        (self.rundir / f"{self.label}-qemu.cmd").write_text(" ".join(argv) + "\n")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=open(self.rundir / f"{self.label}-qemu.out", "wb"),
                                     stderr=subprocess.STDOUT, preexec_fn=set_pdeathsig)
        _LIVE_QEMUS.append(self.proc)
        deadline = time.monotonic() + 30
        for i in range(3):
            name = f"ttyS{i}"
            line = Serial(name, self.rundir / f"{name}.sock", self.rundir / f"{self.label}-{name}.log")
            line.connect(deadline, self.proc)
            self.lines[name] = line
        self.shell = Shell(self.lines["ttyS2"])
        return self

    def since_start(self) -> float:
        return time.monotonic() - self.t_start

    def wait_exit(self, timeout: float) -> int:
        assert self.proc
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ScenarioFailed(f"{self.label} boot: qemu still running after {timeout:.0f}s")

    def poweroff(self, timeout: float = 90) -> None:
        """Clean shutdown through the shell; kill after the timeout."""
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            self.lines["ttyS2"].send("\nsystemctl --no-block poweroff\n")
            self.proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            log(f"{self.label}: no clean poweroff in {timeout:.0f}s, killing qemu")
        self.kill()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for line in self.lines.values():
            line.close()
        if self.proc in _LIVE_QEMUS:
            _LIVE_QEMUS.remove(self.proc)
        if self.swtpm and self.swtpm.poll() is None:
            self.swtpm.kill()
            self.swtpm.wait(timeout=30)


# --------------------------------------------------------------------------
# scenario context


class Config:
    def __init__(self, args: argparse.Namespace):
        self.image_dir = Path(args.image)
        self.stage = Path(args.stage)
        self.deb = Path(args.deb) if args.deb else None
        self.results = Path(args.results)
        self.accel = args.accel
        self.accel_args = (["-accel", "kvm", "-cpu", "host"] if args.accel == "kvm"
                           else ["-accel", "tcg,thread=multi", "-cpu", "max"])
        self.repo = VM_DIR.parent.parent


class Test:
    """What a scenario's run(t) gets."""

    PASS = "hunter2hunter2"
    # A passphrase prompt: keygate's own, or systemd's console agent's.
    PROMPT = r"Enter passphrase[^\n]*"
    # The question of one prompt alone, up to its closing ": " (keygate's),
    # or "(press TAB for no echo)" (systemd's agents). A prompt leaves the
    # cursor on its line, so whatever the guest prints next (a forwarded log
    # line, a status line) can follow on that same line: checks about what
    # was asked read only this.
    QUESTION = r"(?:Enter|Wrong) passphrase[^\n]*?(?:: |\(press TAB for no echo\))"

    def __init__(self, cfg: Config, name: str, module, rundir: Path):
        self.cfg = cfg
        self.name = name
        self.module = module
        self.rundir = rundir
        self.vm: Vm | None = None
        self.boots = 0
        self.notes: list[str] = []

    # -- timing and results ------------------------------------------------
    def timing(self, name: str, secs: float) -> None:
        log(f"timing: {self.name}.{name} = {secs:.2f}s")
        with open(self.cfg.results / "timings.tsv", "a") as f:
            f.write(f"{self.name}.{name}\t{secs:.2f}\n")

    def note(self, msg: str) -> None:
        log(f"{self.name}: {msg}")
        self.notes.append(msg)

    def check(self, cond: bool, msg: str) -> None:
        if not cond:
            raise ScenarioFailed(msg)
        self.note(f"ok: {msg}")

    # -- boots -------------------------------------------------------------
    def install(self) -> None:
        """Fresh overlay + pool disks, install boot (installs keygate, creates
        the pool, runs the scenario's setup, powers off)."""
        img = self.cfg.image_dir
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                        "-b", str(img / "disk.qcow2"), str(self.rundir / "root.qcow2")], check=True)
        for i in range(2):
            with open(self.rundir / f"pool{i}.img", "wb") as f:
                f.truncate(POOL_DISK_SIZE)
        # A scenario's EXTRA_DISKS: {serial: size in bytes}, fresh and sparse.
        for serial, size in getattr(self.module, "EXTRA_DISKS", {}).items():
            with open(self.rundir / f"extra-{serial}.img", "wb") as f:
                f.truncate(size)
        payload = make_payload(self.cfg, self.module, self.rundir)
        t0 = time.monotonic()
        vm = Vm(self.cfg, self.rundir, "install", "kgvm.stage=install", payload).start()
        self.vm = vm
        try:
            # A scenario with a long setup may give its own INSTALL_TIMEOUT.
            limit = getattr(self.module, "INSTALL_TIMEOUT", INSTALL_TIMEOUT)
            vm.lines["ttyS0"].expect(r"KGVM-INSTALL-OK|kgvm-install: .*(error|failed)|Failed to start kgvm-stage",
                                     limit, what="install boot finishing")
            if "KGVM-INSTALL-OK" not in vm.lines["ttyS0"].text():
                raise ScenarioFailed("install boot failed (see install-ttyS0.log)")
            vm.wait_exit(120)
        except ScenarioFailed:
            self.collect_journal(vm, "install")
            raise
        finally:
            vm.kill()
            self.vm = None
        self.timing("install_boot", time.monotonic() - t0)

    def boot(self, label: str | None = None, tpm: bool = True) -> Vm:
        """A test boot; a scenario with TPM = True gets its software TPM
        unless `tpm` is False (the TPM removed for this boot)."""
        self.boots += 1
        console = getattr(self.module, "CONSOLE", "ttyS0")
        with_tpm = self.tpm_dir() if tpm and getattr(self.module, "TPM", False) else None
        vm = Vm(self.cfg, self.rundir, label or f"boot{self.boots}", console=console,
                tpm=with_tpm).start()
        self.vm = vm
        vm.shell.wait_ready(BOOT_TIMEOUT)
        return vm

    def tpm_dir(self) -> Path:
        """The software TPM's state (scenarios with TPM = True)."""
        return self.rundir / "tpm"

    def reset_tpm(self) -> None:
        """Throw the software TPM's state away: the next boot has a new TPM
        (other seeds), as if the disks had moved to another machine."""
        shutil.rmtree(self.tpm_dir(), ignore_errors=True)

    def boot_to_prompt(self, console: str = "ttyS1", label: str | None = None,
                       tpm: bool = True) -> tuple[Vm, Serial]:
        """Boot, then wait for the first passphrase prompt on `console`."""
        vm = self.boot(label, tpm=tpm)
        line = vm.lines[console]
        line.expect(self.QUESTION, 240, since=0, what=f"the passphrase prompt on {console}")
        return vm, line

    def questions(self, line: Serial, since: int = 0) -> list[str]:
        """The passphrase questions shown on `line` after `since`, each cut
        at its own end (see QUESTION)."""
        return re.findall(self.QUESTION, line.text(since))

    def collect_journal(self, vm: Vm, label: str) -> None:
        path = self.rundir / f"journal-{label}.txt"
        try:
            if vm.proc and vm.proc.poll() is None and "ttyS2" in vm.lines:
                data = vm.shell.fetch("journalctl --no-pager -o short-monotonic 2>&1", timeout=120)
                path.write_bytes(data)
                log(f"guest journal saved: {path}")
                return
        except Exception as e:  # noqa: BLE001
            log(f"could not fetch the journal over the shell: {e}")
        vm.kill()
        extract_journal_offline(self.rundir, path)

    # -- guest queries -----------------------------------------------------
    def sh(self, cmd: str, timeout: float = 60, **kw) -> tuple[int, str]:
        assert self.vm
        return self.vm.shell.run(cmd, timeout=timeout, **kw)

    def out(self, cmd: str, timeout: float = 60) -> str:
        return self.sh(cmd, timeout)[1].strip()

    def unit_state(self, unit: str) -> str:
        return self.out(f"systemctl is-active {unit} 2>/dev/null; true")

    def wait_unit_state(self, unit: str, states: str, timeout: float) -> str:
        """Wait until `systemctl is-active UNIT` prints one of the |-separated states."""
        rc, out = self.sh(
            f"kgvm_ok=; kgvm_end=$((SECONDS + {int(timeout)})); while [ $SECONDS -lt $kgvm_end ]; do "
            f"s=$(systemctl is-active {unit}); "
            f"case \"$s\" in {states}) echo \"$s\"; kgvm_ok=1; break;; esac; sleep 0.2; done; "
            f"[ \"$kgvm_ok\" = 1 ] || {{ echo \"last: $s\"; false; }}", timeout=timeout + 30)
        if rc != 0:
            raise ScenarioFailed(f"{unit} never became {states} in {timeout:.0f}s ({out.strip()})")
        return out.strip()

    def wait_keygate_holding(self, timeout: float = 120) -> None:
        self.wait_unit_state("keygate.service", "activating", timeout)
        if self.vm:
            self.timing(f"boot_to_gate_boot{self.boots}", self.vm.since_start())

    def assert_held(self, datasets: list[str]) -> None:
        """keygate is running and the boot is held before local-fs.target."""
        st = self.unit_state("keygate.service")
        self.check(st == "activating", f"keygate.service is activating (holding the boot) ({st!r})")
        for unit in ("zfs-mount.service", "local-fs.target"):
            st = self.unit_state(unit)
            self.check(st in ("inactive", "activating"), f"{unit} not reached while held ({st})")
        for ds in datasets:
            self.check(self.out(f"zfs get -H -o value keystatus {ds}") == "unavailable",
                       f"{ds} still locked while held")
            self.check(self.out(f"zfs get -H -o value mounted {ds}") == "no", f"{ds} not mounted while held")

    def assert_ready(self, what: str = "keygate.service") -> None:
        """keygate.service sent READY=1 and ended well."""
        rc, out = self.sh("systemctl show -p Result -p ActiveEnterTimestampMonotonic keygate.service")
        self.check(rc == 0 and "Result=success" in out and "ActiveEnterTimestampMonotonic=0" not in out,
                   f"{what} sent READY=1 and succeeded ({' '.join(out.split())})")

    def wait_multi_user(self, timeout: float = 180) -> float:
        t0 = time.monotonic()
        self.wait_unit_state("multi-user.target", "active", timeout)
        return time.monotonic() - t0

    def assert_unlocked_and_running(self, datasets: list[str], dependent: str = "kgvm-needs-data") -> None:
        self.assert_ready()
        for ds in datasets:
            self.check(self.out(f"zfs get -H -o value keystatus {ds}") == "available", f"{ds} key available")
            self.check(self.out(f"zfs get -H -o value mounted {ds}") == "yes", f"{ds} mounted")
        self.check(self.unit_state(f"{dependent}.service") == "active",
                   f"{dependent}.service succeeded (canary file present after local-fs.target)")
        # READY=1 before zfs-mount.service started: the order systemd saw.
        rc, _ = self.sh("ts() { systemctl show -p $2 --value $1; }; "
                        "k=$(ts keygate.service ActiveEnterTimestampMonotonic); "
                        "m=$(ts zfs-mount.service ExecMainStartTimestampMonotonic); "
                        "echo keygate_ready=$k zfs_mount_start=$m; [ \"$k\" -gt 0 ] && [ \"$k\" -le \"$m\" ]")
        self.check(rc == 0, "keygate became ready before zfs-mount.service started")


def install_method(cfg: Config, module) -> str:
    """How the install boot installs keygate: "deb", the Debian package with
    `apt-get install ./keygate.deb` (what users install; the default when
    the harness has one), or "make", the `make install` staging tree
    (scenarios with INSTALL = "make")."""
    if getattr(module, "INSTALL", "deb") == "make" or cfg.deb is None:
        return "make"
    return "deb"


def make_payload(cfg: Config, module, rundir: Path) -> Path:
    """The per-run payload disk: keygate (the .deb or the make-install staging
    tree, see install_method), the install stage script and the scenario's
    setup, as an ext4 image (mkfs.ext4 -d)."""
    d = rundir / "payload"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    if install_method(cfg, module) == "deb":
        shutil.copy(cfg.deb, d / "keygate.deb")
    else:
        shutil.copytree(cfg.stage, d / "stage", symlinks=True)
    for f in ("stage-install.sh", "lib.sh", "probe.sh"):
        shutil.copy(PAYLOAD_DIR / f, d / f)
    shutil.copy(VM_DIR / "probe-commands.txt", d / "probe-commands.txt")
    (d / "scenario.sh").write_text(module.SETUP)
    img = rundir / "payload.img"
    img.unlink(missing_ok=True)
    with open(img, "wb") as f:
        f.truncate(128 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "kgpayload", "-d", str(d), str(img)], check=True)
    shutil.rmtree(d)
    return img


def extract_journal_offline(rundir: Path, path: Path) -> None:
    """The guest is gone: read the persistent journal out of the overlay with
    qemu-img + debugfs (no loop device) and let journalctl read it."""
    raw = rundir / "root.raw"
    jdir = rundir / "journal-files"
    try:
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(rundir / "root.qcow2"), str(raw)],
                       check=True, timeout=300)
        shutil.rmtree(jdir, ignore_errors=True)
        jdir.mkdir()
        subprocess.run(["debugfs", "-R", f"rdump /var/log/journal {jdir}", str(raw)],
                       check=True, capture_output=True, timeout=300)
        out = subprocess.run(["journalctl", "--no-pager", "-o", "short-monotonic", "-D", str(jdir / "journal")],
                             capture_output=True, timeout=120)
        path.write_bytes(out.stdout + out.stderr)
        log(f"guest journal saved (offline): {path}")
    except Exception as e:  # noqa: BLE001
        log(f"could not extract the guest journal offline: {e}")
    finally:
        raw.unlink(missing_ok=True)
        shutil.rmtree(jdir, ignore_errors=True)


# --------------------------------------------------------------------------
# OpenRC guests: scenarios with INIT = "openrc". The install boot (still under
# the image's systemd) turns the guest into a sysvinit + OpenRC one with the
# Debian packages the host downloads once; the test boots are OpenRC boots.
# The shell on ttyS2 comes from an inittab sysinit entry before rcS
# (payload/openrc-shell.sh); the default runlevel's end is /run/kgvm-default-done;
# conf.d probes log when services begin to start in /run/kgvm-order.log.

OPENRC_DEBS = ("openrc", "librc1", "libeinfo1", "insserv", "sysvinit-core", "initscripts")
OPENRC_STATES = ("starting", "started", "stopping", "inactive", "failed")


def openrc_debs(cfg: Config) -> Path:
    """The .debs of OPENRC_DEBS, fetched once with the host's apt (a bookworm
    host, like the guest) into the image cache; the guest has no network."""
    import hashlib
    key = hashlib.sha256(" ".join(OPENRC_DEBS).encode()).hexdigest()[:12]
    d = cfg.image_dir.parent / f"openrc-debs-{key}"
    if (d / "complete").exists():
        return d
    tmp = d.parent / f"{d.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tmp.chmod(0o755)
    t0 = time.monotonic()
    out = subprocess.run(["apt-get", "download", *OPENRC_DEBS], cwd=tmp, capture_output=True, text=True)
    if out.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ScenarioFailed(f"apt-get download {' '.join(OPENRC_DEBS)} failed:\n{out.stderr[-1000:]}")
    publish_cache_dir(tmp, d)
    log(f"OpenRC packages downloaded in {time.monotonic() - t0:.1f}s: {d}")
    return d


def drop_failed_build(cfg: Config, work: Path, label: str, logs: str) -> None:
    """A cache entry's build boot failed: keep its logs (LABEL-*) in the
    results' LOGS directory, throw the rest away."""
    into = cfg.results / logs
    into.mkdir(parents=True, exist_ok=True)
    for f in work.glob(f"{label}-*"):
        shutil.copy(f, into / f.name)
    shutil.rmtree(work, ignore_errors=True)


def publish_cache_dir(work: Path, d: Path) -> None:
    """Mark the finished cache entry WORK complete and move it to D, unless
    another run got there first (then WORK goes)."""
    (work / "complete").touch()
    if (d / "complete").exists():
        shutil.rmtree(work, ignore_errors=True)
    else:
        shutil.rmtree(d, ignore_errors=True)
        work.rename(d)


def make_ext4(d: Path, img: Path) -> Path:
    """An ext4 payload disk (label kgpayload) with the contents of D; D goes."""
    img.unlink(missing_ok=True)
    with open(img, "wb") as f:
        f.truncate(128 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "kgpayload", "-d", str(d), str(img)], check=True)
    shutil.rmtree(d)
    return img


OPENRC_BASE_FILES = ("stage-openrc-base.sh", "openrc-shell.sh", "openrc-stage.initd")


def openrc_base(cfg: Config) -> tuple[Path, float]:
    """The shared OpenRC disk: a qcow2 overlay of the image in which one boot
    (payload/stage-openrc-base.sh) installed sysvinit + OpenRC. Cached next
    to the image under a hash of the image, the packages and the files that
    go into it; returns its path and the seconds spent building it."""
    import hashlib
    h = hashlib.sha256()
    h.update(cfg.image_dir.name.encode())
    h.update(" ".join(OPENRC_DEBS).encode())
    for f in OPENRC_BASE_FILES:
        h.update((PAYLOAD_DIR / f).read_bytes())
    d = cfg.image_dir.parent / f"openrc-{h.hexdigest()[:16]}"
    if (d / "complete").exists():
        return d / "disk.qcow2", 0.0
    t0 = time.monotonic()
    work = d.parent / f"{d.name}.tmp{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log(f"building the OpenRC disk {d.name} (one install boot)")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                    "-b", str(cfg.image_dir / "disk.qcow2"), str(work / "root.qcow2")], check=True)
    for i in range(2):
        with open(work / f"pool{i}.img", "wb") as f:
            f.truncate(POOL_DISK_SIZE)
    p = work / "payload"
    p.mkdir()
    shutil.copytree(openrc_debs(cfg), p / "debs")
    (p / "debs" / "complete").unlink()
    for f in OPENRC_BASE_FILES:
        shutil.copy(PAYLOAD_DIR / f, p / f)
    payload = make_ext4(p, work / "payload.img")
    vm = Vm(cfg, work, "openrc-base", "kgvm.stage=openrc-base", payload).start()
    try:
        # initscripts' postinst runs update-rc.d (insserv, rc-update) once per
        # script: minutes under TCG.
        vm.lines["ttyS0"].expect(r"KGVM-INSTALL-OK|kgvm-install: .*(error|failed)|Failed to start kgvm-stage",
                                 max(INSTALL_TIMEOUT, 900), what="the OpenRC disk's install boot finishing")
        if "KGVM-INSTALL-OK" not in vm.lines["ttyS0"].text():
            raise ScenarioFailed("building the OpenRC disk failed (see openrc-disk/openrc-base-ttyS0.log)")
        vm.wait_exit(120)
    except ScenarioFailed:
        vm.kill()
        drop_failed_build(cfg, work, "openrc-base", "openrc-disk")
        raise
    finally:
        vm.kill()
    for f in ("pool0.img", "pool1.img", "payload.img", *[f"ttyS{i}.sock" for i in range(3)]):
        (work / f).unlink(missing_ok=True)
    (work / "root.qcow2").rename(work / "disk.qcow2")
    publish_cache_dir(work, d)
    return d / "disk.qcow2", time.monotonic() - t0


def make_openrc_payload(cfg: Config, module, rundir: Path) -> Path:
    """The payload of an OpenRC scenario's install boot: keygate as
    `make install INIT=openrc` installs it (the binary and docs of the
    staging tree, the OpenRC files from `make install-openrc`), the stage
    script, lib.sh and the scenario's setup."""
    d = rundir / "payload"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    stage = d / "stage"
    shutil.copytree(cfg.stage, stage, symlinks=True)
    for unit in stage.rglob("keygate.service"):
        unit.unlink()
    out = subprocess.run(["make", "-s", "-C", str(cfg.repo), "install-openrc", f"DESTDIR={stage}",
                          "PREFIX=/usr"], capture_output=True, text=True)
    if out.returncode != 0:
        raise ScenarioFailed(f"make install-openrc failed:\n{out.stdout}{out.stderr}")
    for f in ("stage-openrc-install.sh", "lib.sh"):
        shutil.copy(PAYLOAD_DIR / f, d / f)
    (d / "scenario.sh").write_text(module.SETUP)
    return make_ext4(d, rundir / "payload.img")


class OpenRcTest(Test):
    """A Test whose guest boots sysvinit + OpenRC (Debian's layout: keygate in
    sysinit, mountall.sh and zfs-mount need it)."""

    def install(self) -> None:
        base, took = openrc_base(self.cfg)
        self.timing("openrc_disk_build" if took else "openrc_disk_cached", took)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                        "-b", str(base), str(self.rundir / "root.qcow2")], check=True)
        for i in range(2):
            with open(self.rundir / f"pool{i}.img", "wb") as f:
                f.truncate(POOL_DISK_SIZE)
        payload = make_openrc_payload(self.cfg, self.module, self.rundir)
        t0 = time.monotonic()
        vm = Vm(self.cfg, self.rundir, "install", "kgvm.stage=openrc-install", payload).start()
        self.vm = vm
        try:
            vm.lines["ttyS0"].expect(r"KGVM-INSTALL-OK|kgvm-install: .*(error|failed)|ERROR: kgvm-stage",
                                     INSTALL_TIMEOUT, what="install boot finishing")
            if "KGVM-INSTALL-OK" not in vm.lines["ttyS0"].text():
                raise ScenarioFailed("install boot failed (see install-ttyS0.log)")
            m = re.search(r"OpenRC runlevels: [^\n]*", vm.lines["ttyS0"].text())
            if m:
                self.note(m.group(0))
            vm.wait_exit(120)
        except ScenarioFailed:
            self.collect_journal(vm, "install")
            raise
        finally:
            vm.kill()
            self.vm = None
        self.timing("install_boot", time.monotonic() - t0)

    def collect_journal(self, vm: Vm, label: str) -> None:
        """No journal under OpenRC: rc.log, the order log, the service states
        and the kernel log instead."""
        path = self.rundir / f"openrc-{label}.txt"
        try:
            if vm.proc and vm.proc.poll() is None and "ttyS2" in vm.lines:
                data = vm.shell.fetch(
                    "{ for f in /var/log/rc.log /run/kgvm-order.log; do echo \"==== $f\"; cat $f; done; "
                    "echo ==== rc-status; rc-status -a; echo ==== /run/openrc; ls -lR /run/openrc; "
                    "echo ==== dmesg; dmesg; } 2>&1", timeout=120)
                path.write_bytes(data)
                log(f"guest logs saved: {path}")
        except Exception as e:  # noqa: BLE001
            log(f"could not fetch the guest logs over the shell: {e}")

    # -- guest queries -----------------------------------------------------
    def rc_state(self, svc: str) -> str:
        """OpenRC's state of SVC from /run/openrc: starting, started, ...;
        `stopped` when it is in none of them."""
        states = " ".join(OPENRC_STATES)
        return self.out(f"s=stopped; for d in {states}; do [ -e /run/openrc/$d/{svc} ] && s=$d; done; echo $s")

    def wait_rc_state(self, svc: str, states: str, timeout: float) -> str:
        """Wait until rc_state(SVC) is one of the |-separated STATES."""
        dirs = " ".join(OPENRC_STATES)
        rc, out = self.sh(
            f"kgvm_end=$((SECONDS + {int(timeout)})); while :; do s=stopped; "
            f"for d in {dirs}; do [ -e /run/openrc/$d/{svc} ] && s=$d; done; "
            f"case $s in {states}) echo $s; break;; esac; "
            f"[ $SECONDS -lt $kgvm_end ] || {{ echo \"last: $s\"; false; break; }}; sleep 0.2; done",
            timeout=timeout + 30)
        if rc != 0:
            raise ScenarioFailed(f"OpenRC service {svc} never became {states} in {timeout:.0f}s ({out.strip()})")
        return out.strip()

    def wait_openrc_holding(self, timeout: float = 180) -> None:
        self.wait_rc_state("keygate", "starting", timeout)
        if self.vm:
            self.timing(f"boot_to_gate_boot{self.boots}", self.vm.since_start())

    def wait_openrc_default(self, timeout: float = 180) -> float:
        """Wait until init has run the default runlevel's rc (inittab's kd line)."""
        t0 = time.monotonic()
        rc, out = self.sh(f"kgvm_end=$((SECONDS + {int(timeout)})); "
                          "until [ -e /run/kgvm-default-done ]; do "
                          "[ $SECONDS -lt $kgvm_end ] || { echo timeout; false; break; }; sleep 0.2; done",
                          timeout=timeout + 30)
        if rc != 0:
            raise ScenarioFailed(f"the default runlevel was not reached in {timeout:.0f}s ({out.strip()})")
        return time.monotonic() - t0

    def canary_mounted(self) -> bool:
        return self.out("findmnt -n -o FSTYPE /mnt/gated || echo absent") == "tmpfs"

    def order(self) -> dict[str, float]:
        """When each probed service began to start (its first start), and
        when keygate was marked started (its /run/openrc/started link)."""
        text = self.out("cat /run/kgvm-order.log 2>/dev/null; "
                        "find /run/openrc/started -name keygate -printf '%T@ started keygate\\n'")
        times: dict[str, float] = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3:
                times.setdefault(f"{parts[1]} {parts[2]}", float(parts[0]))
        return times

    def assert_openrc_held(self, datasets: list[str]) -> None:
        """keygate is starting and the sysinit runlevel waits for it: neither
        mountall.sh nor zfs-mount began; the canary mount and the datasets
        are absent."""
        st = self.rc_state("keygate")
        self.check(st == "starting", f"keygate is starting (holding sysinit) ({st!r})")
        began = self.order()
        for svc in ("mountall.sh", "zfs-mount"):
            st = self.rc_state(svc)
            self.check(st == "stopped" and f"begin {svc}" not in began,
                       f"{svc} not begun while held ({st})")
        self.check(not self.canary_mounted(), "the canary fstab mount /mnt/gated is absent while held")
        for ds in datasets:
            self.check(self.out(f"zfs get -H -o value keystatus {ds}") == "unavailable",
                       f"{ds} still locked while held")
            self.check(self.out(f"zfs get -H -o value mounted {ds}") == "no", f"{ds} not mounted while held")

    def assert_openrc_unlocked(self, datasets: list[str]) -> None:
        """keygate, mountall.sh and zfs-mount started, in that order; the
        datasets and the canary mount are there."""
        for svc in ("keygate", "mountall.sh", "zfs-mount"):
            self.check(self.rc_state(svc) == "started", f"{svc} started")
        for ds in datasets:
            self.check(self.out(f"zfs get -H -o value keystatus {ds}") == "available", f"{ds} key available")
            self.check(self.out(f"zfs get -H -o value mounted {ds}") == "yes", f"{ds} mounted")
        self.check(self.canary_mounted(), "the canary fstab mount /mnt/gated exists (mountall.sh ran)")
        t = self.order()
        end = t.get("started keygate")
        for svc in ("mountall.sh", "zfs-mount"):
            begin = t.get(f"begin {svc}")
            self.check(end is not None and begin is not None and end < begin,
                       f"keygate finished ({end}) before {svc} began ({begin})")
        rc, out = self.sh("rc-service keygate status")
        self.check(rc == 0 and "started" in out, f"rc-service keygate status: started ({out.strip()})")


# --------------------------------------------------------------------------
# runner


def load_scenario(name: str):
    path = SCENARIO_DIR / f"{name}.py"
    if not path.exists():
        # short names: `e` for e_out_of_band
        hits = [n for n in list_scenarios() if n.split("_")[0] == name]
        if len(hits) != 1:
            raise SystemExit(f"no such scenario: {name} (have: {', '.join(list_scenarios())})")
        name = hits[0]
        path = SCENARIO_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"kgvm_scenario_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    mod.NAME = name
    assert spec.loader
    spec.loader.exec_module(mod)
    return mod


def list_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.py") if not p.stem.startswith("_"))


def missing_features(cfg: Config, module) -> list[str]:
    """Scenario NEEDS: keygate argv lists that must exit 0 (e.g. a subcommand's --help)."""
    missing = []
    binary = cfg.stage / "usr/sbin/keygate"
    for argv in getattr(module, "NEEDS", []):
        try:
            ok = subprocess.run([str(binary), *argv], capture_output=True, timeout=10).returncode == 0
        except OSError:
            ok = False
        if not ok:
            missing.append("keygate " + " ".join(argv))
    return missing


# qemu's own assertion failures (not the guest's): with multi-threaded TCG,
# qemu 10 can abort in its memory map code while the guest kernel sets up
# PCI (`iotlb_to_section: Assertion ... failed`). That is the emulator
# crashing, not anything keygate or the guest did.
QEMU_ABORT = re.compile(r"qemu-system-x86_64: .*Assertion .* failed")


def qemu_aborted(rundir: Path) -> str | None:
    """The first qemu assertion failure logged by any boot in `rundir`."""
    for out in sorted(rundir.glob("*-qemu.out")):
        m = QEMU_ABORT.search(out.read_text(errors="replace"))
        if m:
            return f"{out.name}: {m.group(0)}"
    return None


# The per-scenario disks of the encrypted-root scenarios (rootzfs.py).
ROOTZFS_DISKS = ("rpool.qcow2", "tank.qcow2")


def test_class(module) -> type:
    """What a scenario's run(t) gets: an OpenRcTest for INIT = "openrc", a
    rootzfs.RootZfsTest for ROOT = "zfs" (an encrypted root on ZFS, booted
    through an initramfs), else a Test."""
    if getattr(module, "ROOT", None) == "zfs":
        # rootzfs.py imports this file as `harness`: the same module, not a
        # second copy with classes of its own.
        sys.modules.setdefault("harness", sys.modules[__name__])
        import rootzfs
        return rootzfs.RootZfsTest
    if getattr(module, "INIT", "systemd") == "openrc":
        return OpenRcTest
    return Test


def run_one(cfg: Config, name: str) -> str:
    """A scenario; run once more, from scratch, when it failed because qemu
    itself aborted (QEMU_ABORT), which is said in its result. A second
    failure stands."""
    status, crash = run_attempt(cfg, name), None
    if status == "FAIL":
        module = load_scenario(name)
        crash = qemu_aborted(cfg.results / module.NAME)
    if crash:
        log(f"{module.NAME}: qemu itself aborted ({crash}); running the scenario again")
        with open(cfg.results / "summary.txt", "a") as f:
            f.write(f"RETRY {module.NAME}: qemu aborted: {crash}\n")
        status = run_attempt(cfg, name, retried=crash)
    return status


def run_attempt(cfg: Config, name: str, retried: str | None = None) -> str:
    module = load_scenario(name)
    name = module.NAME
    rundir = cfg.results / name
    if retried:
        shutil.rmtree(cfg.results / f"{name}.aborted", ignore_errors=True)
        rundir.rename(cfg.results / f"{name}.aborted")
    shutil.rmtree(rundir, ignore_errors=True)
    rundir.mkdir(parents=True)
    t = test_class(module)(cfg, name, module, rundir)
    t0 = time.monotonic()
    status, why = "PASS", ""
    missing = missing_features(cfg, module)
    log(f"=== scenario {name}: {module.DESCRIPTION}")
    try:
        if missing and not os.environ.get("KEYGATE_VM_FORCE"):
            raise ScenarioSkipped("waiting on keygate feature: " + ", ".join(missing))
        t.install()
        module.run(t)
    except ScenarioSkipped as e:
        status, why = "SKIP", str(e)
    except ScenarioFailed as e:
        status, why = "FAIL", str(e)
    except Exception:  # noqa: BLE001 - a harness bug is a failure too
        status, why = "FAIL", "harness error:\n" + traceback.format_exc()
    finally:
        if status == "FAIL" and t.vm:
            t.collect_journal(t.vm, "fail")
        if t.vm:
            t.vm.kill()  # the overlay is thrown away: no need for a clean shutdown
    dt = time.monotonic() - t0
    t.timing("total", dt)
    for f in ("root.qcow2", "pool0.img", "pool1.img", "payload.img", *ROOTZFS_DISKS):
        (rundir / f).unlink(missing_ok=True)
    for f in rundir.glob("*.sock"):
        f.unlink()
    for f in rundir.glob("extra-*.img"):
        f.unlink()
    line = f"{status} {name} ({dt:.0f}s){': ' + why if why else ''}"
    if retried:
        t.notes.insert(0, f"run again: the first run failed because qemu itself aborted ({retried})")
    (rundir / "result.txt").write_text(line + "\n" + "\n".join(t.notes) + "\n")
    print(line.splitlines()[0] if status != "FAIL" else line, flush=True)
    with open(cfg.results / "summary.txt", "a") as f:
        f.write(line.splitlines()[0] + "\n")
    return status


def cleanup_qemus(*_a) -> None:
    for p in list(_LIVE_QEMUS):
        if p.poll() is None:
            p.kill()
    raise SystemExit(130)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True, help="directory with disk.qcow2, vmlinuz, initrd.img")
    ap.add_argument("--stage", required=True, help="keygate `make install DESTDIR=` tree")
    ap.add_argument("--deb", help="keygate .deb (`make deb`), installed unless a scenario says INSTALL = \"make\"")
    ap.add_argument("--results", required=True)
    ap.add_argument("--accel", choices=["kvm", "tcg"], default="tcg")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("scenarios", nargs="*")
    args = ap.parse_args()
    if args.list:
        for n in list_scenarios():
            print(f"{n}\t{load_scenario(n).DESCRIPTION}")
        return 0
    cfg = Config(args)
    cfg.results.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, cleanup_qemus)
    signal.signal(signal.SIGINT, cleanup_qemus)
    names = args.scenarios or [n for n in list_scenarios() if not getattr(load_scenario(n), "MANUAL", False)]
    statuses = {n: run_one(cfg, n) for n in names}
    # Under CI a skipped scenario is a lost check, not a pass.
    if os.environ.get("CI") == "true":
        for n, s in statuses.items():
            if s == "SKIP":
                statuses[n] = "FAIL"
                print(f"FAIL {n}: skipped under CI=true", flush=True)
    fails = [n for n, s in statuses.items() if s == "FAIL"]
    skips = [n for n, s in statuses.items() if s == "SKIP"]
    print(f"vm tier: {len(statuses) - len(fails) - len(skips)} passed, {len(fails)} failed"
          f"{' (' + ' '.join(fails) + ')' if fails else ''}, {len(skips)} skipped"
          f"{' (' + ' '.join(skips) + ')' if skips else ''}", flush=True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
