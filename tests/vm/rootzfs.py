"""keygate VM tier: the encrypted-root scenarios (ROOT = "zfs").

The root file system is rpool/ROOT/debian under the encrypted rpool/ROOT
(keyformat=passphrase, the pool's bootfs). The guest is booted straight into
an initramfs (qemu -kernel/-initrd, `root=zfs:...`) whose keygate loads the
root's key; the real root's systemd then boots from ZFS.

What is built, from the cheapest to reuse to the most often made:
  the pool disks   one boot of the ext4 image copies its root into a new
                   encrypted pool (payload/stage-rootzfs-pool.sh); cached
                   next to the image under a hash of the image and the
                   recipe, as the image itself is
  the initramfs    three images of the keygate build under test, made on
  images           the host from the image's root tree (lib/rootzfs-initrds.sh):
                   initramfs-tools, dracut with systemd, dracut's shell
  the install      one boot per run installs the keygate package into the
                   root (payload/stage-rootzfs-install.sh)
Every scenario then boots throwaway qcow2 overlays of those disks.

The pools: rpool holds the root and rpool/data, another encryption root
with the same passphrase, which the initramfs's gate opens once the root's
key is loaded. tank/vault (same passphrase) is in a pool the initramfs does
not import for root=zfs:POOL/DS: its key must come from the real root's
gate, which has nothing but the passphrase the initramfs handed over.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import harness as h

# keygate's configuration in the real root, copied into every initramfs by
# keygate's hooks: ttyS1 is the LOM line beside the kernel console ttyS0.
CONFIG = 'consoles = ["/dev/ttyS1"]\n'
RPOOL_SIZE = "3G"
TANK_SIZE = "256M"
# The recipe of the pool disks (their cache key), and what the boots run.
POOL_FILES = ("stage-rootzfs-pool.sh",)
INSTALL_FILES = ("stage-rootzfs-install.sh",)
HELPERS = ("lib.sh",)

# The initramfs generators, and their images (lib/rootzfs-initrds.sh).
INITRDS = {
    "initramfs-tools": "initrd-itools.img",
    "dracut-systemd": "initrd-dracut-sd.img",
    "dracut-shell": "initrd-dracut-sh.img",
}

# zfs's own prompts (its initramfs-tools script, its dracut hooks) and
# systemd's password agents: none may ask when keygate runs.
OTHER_PROMPTS = re.compile(r"Encrypted ZFS password|press TAB for no echo|Enter passphrase for '")


def qcow2(path: Path, size: str | None = None, backing: Path | None = None) -> Path:
    argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        argv += ["-F", "qcow2", "-b", str(backing)]
    argv.append(str(path))
    if size:
        argv.append(size)
    subprocess.run(argv, check=True)
    return path


def write_payload(d: Path, files: tuple[str, ...], extra: dict[str, bytes | Path]) -> None:
    d.mkdir()
    for f in files:
        shutil.copy(h.PAYLOAD_DIR / f, d / f)
    for name, what in extra.items():
        if isinstance(what, Path):
            shutil.copy(what, d / name)
        else:
            (d / name).write_bytes(what)


class InstallVm(h.Vm):
    """A boot of the ext4 image (as every install boot) with more disks:
    DRIVES, (qcow2 file, virtio serial) pairs."""

    def __init__(self, cfg: h.Config, rundir: Path, label: str, stage: str, payload: Path,
                 drives: list[tuple[Path, str]]):
        super().__init__(cfg, rundir, label, f"kgvm.stage={stage}", payload)
        self.drives = drives

    def qemu_argv(self) -> list[str]:
        return super().qemu_argv() + drive_argv(self.drives)


def drive_argv(drives: list[tuple[Path, str]]) -> list[str]:
    argv: list[str] = []
    for path, serial in drives:
        argv += ["-drive", f"file={path},if=none,id=d{serial},format=qcow2,cache=unsafe",
                 "-device", f"virtio-blk-pci,drive=d{serial},serial={serial}"]
    return argv


class RootVm(h.Vm):
    """A boot of the encrypted root: the kernel, one of the initramfs images
    and `root=ROOT`; the pool disks are the only disks."""

    def __init__(self, cfg: h.Config, rundir: Path, label: str, initrd: Path, root: str,
                 drives: list[tuple[Path, str]], cmdline_extra: str = "", console: str = "ttyS0"):
        super().__init__(cfg, rundir, label, cmdline_extra, console=console)
        self.initrd = initrd
        self.root = root
        self.drives = drives

    def qemu_argv(self) -> list[str]:
        return (self.machine_argv(self.initrd, f"root={self.root}") + drive_argv(self.drives)
                + self.serial_argv())


def install_boot(cfg: h.Config, vm: InstallVm, what: str, timeout: float) -> str:
    """Run an install boot to its end; returns its ttyS0 text."""
    vm.start()
    try:
        vm.lines["ttyS0"].expect(r"KGVM-INSTALL-OK|kgvm-install: .*(error|failed)|Failed to start kgvm-stage",
                                 timeout, what=f"{what} finishing")
        text = vm.lines["ttyS0"].text()
        if "KGVM-INSTALL-OK" not in text:
            raise h.ScenarioFailed(f"{what} failed (see {vm.rundir}/{vm.label}-ttyS0.log)")
        vm.wait_exit(120)
        return text
    finally:
        vm.kill()


def pool_disks(cfg: h.Config) -> tuple[Path, float]:
    """The cached pool disks (rpool.qcow2, tank.qcow2): built by one boot
    when the image or the recipe changed. Returns their directory and the
    seconds spent building it (0 when cached)."""
    key = hashlib.sha256()
    key.update(cfg.image_dir.name.encode())
    key.update(f"{h.Test.PASS} {RPOOL_SIZE} {TANK_SIZE}".encode())
    for f in POOL_FILES:
        key.update((h.PAYLOAD_DIR / f).read_bytes())
    d = cfg.image_dir.parent / f"rootzfs-{key.hexdigest()[:16]}"
    if (d / "complete").exists():
        return d, 0.0
    t0 = time.monotonic()
    work = d.parent / f"{d.name}.tmp{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    h.log(f"building the encrypted root pool {d.name} (one boot copies the image's root into it)")
    qcow2(work / "root.qcow2", backing=cfg.image_dir / "disk.qcow2")
    for i in range(2):
        with open(work / f"pool{i}.img", "wb") as f:
            f.truncate(h.POOL_DISK_SIZE)
    rpool, tank = qcow2(work / "rpool.qcow2", RPOOL_SIZE), qcow2(work / "tank.qcow2", TANK_SIZE)
    write_payload(work / "payload", POOL_FILES + HELPERS, {"passphrase": h.Test.PASS.encode() + b"\n"})
    payload = h.make_ext4(work / "payload", work / "payload.img")
    vm = InstallVm(cfg, work, "rootzfs-pool", "rootzfs-pool", payload, [(rpool, "rpool0"), (tank, "tank0")])
    try:
        text = install_boot(cfg, vm, "the encrypted root pool's build boot", max(h.INSTALL_TIMEOUT, 1200))
    except h.ScenarioFailed:
        h.drop_failed_build(cfg, work, "rootzfs-pool", "rootzfs")
        raise
    m = re.search(r"root copied: [^\n]*", text)
    if m:
        h.log(m.group(0))
    for f in work.iterdir():
        if f.name not in ("rpool.qcow2", "tank.qcow2"):
            f.unlink()
    h.publish_cache_dir(work, d)
    return d, time.monotonic() - t0


class RunDisks:
    """What every encrypted-root scenario of one run shares."""

    def __init__(self, pools: Path, rpool: Path, initrds: Path, timings: dict[str, float]):
        self.pools = pools
        self.rpool = rpool  # the root pool with keygate installed
        self.tank = pools / "tank.qcow2"
        self.initrds = initrds
        self.timings = timings

    def initrd(self, generator: str) -> Path:
        return self.initrds / INITRDS[generator]


def run_disks(cfg: h.Config) -> RunDisks:
    """The run's shared disks and images, made by the first encrypted-root
    scenario; a failure to make them fails every one of them."""
    done = getattr(cfg, "rootzfs", None)
    if isinstance(done, RunDisks):
        return done
    if isinstance(done, str):
        raise h.ScenarioFailed(f"the encrypted-root disks of this run could not be made: {done}")
    try:
        cfg.rootzfs = make_run_disks(cfg)
    except Exception as e:  # noqa: BLE001 - remembered for the other scenarios
        cfg.rootzfs = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise
    return cfg.rootzfs


def make_run_disks(cfg: h.Config) -> RunDisks:
    if cfg.deb is None:
        raise h.ScenarioFailed("the encrypted-root scenarios install the keygate package: no .deb given")
    timings: dict[str, float] = {}
    pools, took = pool_disks(cfg)
    timings["rootzfs_pool_build" if took else "rootzfs_pool_cached"] = took
    out = cfg.results / "rootzfs"
    out.mkdir(parents=True, exist_ok=True)
    config = out / "keygate.toml"
    config.write_text(CONFIG)

    t0 = time.monotonic()
    kver = (cfg.image_dir / "kernel-version").read_text().strip()
    res = subprocess.run([str(h.VM_DIR / "lib/rootzfs-initrds.sh"), str(cfg.image_dir / "tree"), kver,
                          str(cfg.deb), str(config), str(out)], capture_output=True, text=True)
    if res.returncode != 0:
        raise h.ScenarioFailed(f"building the initramfs images failed:\n{res.stderr[-2000:]}")
    timings["rootzfs_initrds"] = time.monotonic() - t0

    t0 = time.monotonic()
    rpool = qcow2(out / "rpool.qcow2", backing=pools / "rpool.qcow2")
    qcow2(out / "root.qcow2", backing=cfg.image_dir / "disk.qcow2")
    for i in range(2):
        with open(out / f"pool{i}.img", "wb") as f:
            f.truncate(h.POOL_DISK_SIZE)
    write_payload(out / "payload", INSTALL_FILES + HELPERS, {
        "passphrase": h.Test.PASS.encode() + b"\n", "keygate.deb": cfg.deb, "keygate.toml": config})
    payload = h.make_ext4(out / "payload", out / "payload.img")
    vm = InstallVm(cfg, out, "install", "rootzfs-install", payload, [(rpool, "rpool0")])
    install_boot(cfg, vm, "the install boot of the encrypted root", h.INSTALL_TIMEOUT)
    for f in ("root.qcow2", "pool0.img", "pool1.img", "payload.img"):
        (out / f).unlink(missing_ok=True)
    for f in out.glob("*.sock"):
        f.unlink()
    timings["rootzfs_install_boot"] = time.monotonic() - t0
    return RunDisks(pools, rpool, out, timings)


class RootZfsTest(h.Test):
    """A Test whose guest boots its encrypted root through an initramfs."""

    # keygate's question in the initramfs, for the boot's encryption root.
    ROOT_QUESTION = r"Enter passphrase for [^\n]*?rpool/ROOT[^\n]*?: "

    def install(self) -> None:
        """The run's shared disks (made by the first such scenario), then
        this scenario's throwaway overlays of them."""
        disks = run_disks(self.cfg)
        for name, secs in disks.timings.items():
            self.timing(name, secs)
        disks.timings = {}  # reported once, by the scenario that made them
        self.disks = disks
        qcow2(self.rundir / "rpool.qcow2", backing=disks.rpool)
        qcow2(self.rundir / "tank.qcow2", backing=disks.tank)

    def boot_root(self, generator: str, root: str, label: str | None = None) -> h.Vm:
        """Boot the encrypted root through GENERATOR's initramfs with
        root=ROOT. dracut is told to power off rather than wait in its
        emergency shell, initramfs-tools' panic= does the same."""
        self.boots += 1
        extra = "rd.shell=0 rd.emergency=poweroff" if generator.startswith("dracut") else ""
        vm = RootVm(self.cfg, self.rundir, label or f"boot{self.boots}", self.disks.initrd(generator),
                    root, [(self.rundir / "rpool.qcow2", "rpool0"), (self.rundir / "tank.qcow2", "tank0")],
                    cmdline_extra=extra).start()
        self.vm = vm
        return vm

    def type_once(self, generator: str, root: str, typed_on: str) -> None:
        """Boot through GENERATOR's initramfs with root=ROOT; keygate asks
        on ttyS0 and ttyS1 at once; the passphrase is typed once, on
        TYPED_ON; then the whole boot is checked (assert_booted)."""
        vm = self.boot_root(generator, root)
        line = vm.lines[typed_on]
        self.note(f"asked on {typed_on}: {self.wait_question(line)!r}")
        other = "ttyS1" if typed_on == "ttyS0" else "ttyS0"
        self.wait_question(vm.lines[other], timeout=60)
        self.timing("boot_to_prompt", vm.since_start())
        line.type(self.PASS + "\r")
        self.assert_booted(vm, generator, {"ttyS0": 1, "ttyS1": 1})

    def wait_question(self, line: h.Serial, since: int = 0, timeout: float = 240) -> str:
        m = line.expect(self.ROOT_QUESTION, timeout, since=since,
                        what=f"keygate's question for rpool/ROOT on {line.name}")
        return m.group(0)

    def collect_journal(self, vm: h.Vm, label: str) -> None:
        """Over the shell only: the root is not an ext4 disk to read offline."""
        path = self.rundir / f"journal-{label}.txt"
        try:
            if vm.proc and vm.proc.poll() is None and vm.shell.ready:
                path.write_bytes(vm.shell.fetch("journalctl --no-pager -o short-monotonic 2>&1", timeout=120))
                h.log(f"guest journal saved: {path}")
                return
        except Exception as e:  # noqa: BLE001
            h.log(f"could not fetch the journal over the shell: {e}")
        h.log(f"{self.name}: no journal (the guest's shell never came up; see the serial logs)")

    def assert_booted(self, vm: h.Vm, generator: str, questions: dict[str, int]) -> None:
        """After the passphrase was typed: the real root is up from ZFS with
        every data root open, keygate's hand-over key is gone, and the
        serial lines show QUESTIONS[line] questions each, all keygate's."""
        vm.shell.wait_ready(h.BOOT_TIMEOUT)
        self.timing(f"boot_to_shell_{generator}", vm.since_start())
        self.wait_multi_user()
        self.timing(f"boot_to_multi_user_{generator}", vm.since_start())
        src = self.out("findmnt -n -o SOURCE,FSTYPE /")
        self.check(src.split() == ["rpool/ROOT/debian", "zfs"], f"the root is rpool/ROOT/debian ({src!r})")
        for ds in ("rpool/ROOT", "rpool/data", "tank/vault"):
            self.check(self.out(f"zfs get -H -o value keystatus {ds}") == "available", f"{ds} key available")
        for ds in ("rpool/data", "tank/vault"):
            self.check(self.out(f"zfs get -H -o value mounted {ds}") == "yes", f"{ds} mounted")
            self.check(self.out(f"cat /{ds}/canary") == f"canary of {ds}", f"/{ds}/canary readable")
        for unit in ("kgvm-needs-data", "kgvm-needs-vault"):
            self.check(self.unit_state(f"{unit}.service") == "active",
                       f"{unit}.service succeeded (its canary file was there after local-fs.target)")
        self.assert_ready("the real root's keygate.service")
        journal = self.out("journalctl -b -u keygate.service --no-pager -o cat")
        self.check("handed over by the initramfs" in journal,
                   "the real root's gate tried the passphrase the initramfs handed over")
        self.check("removed the passphrase the initramfs handed over" in journal,
                   "the real root's gate removed the hand-over key")
        self.check(self.PASS not in journal, "the passphrase is not in the real root's keygate log")
        keys = self.out("grep -c 'keygate:handover' /proc/keys; true")
        self.check(keys == "0", f"no keygate:handover key is left in the kernel keyring ({keys})")
        for name, want in questions.items():
            text = vm.lines[name].text()
            asked = self.questions(vm.lines[name])
            self.check(len(asked) == want, f"{name} showed {want} passphrase question(s) in the whole boot: {asked}")
            other = OTHER_PROMPTS.search(text)
            self.check(other is None, f"no other prompt on {name} ({other.group(0) if other else 'none'})")
            self.check(self.PASS not in text, f"the passphrase was not echoed on {name}")
