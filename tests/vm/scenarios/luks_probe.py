"""luks_probe: record real cryptsetup answers to tests/vm/luks-probe-commands.txt
as fixtures in tests/fixtures/cryptsetup-reference/ (for the cryptsetup
simulator's honesty test, tests/cryptsetup_sim_reference.rs). Not run by
default: `tests/vm/run luks_probe`."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import _luks  # noqa: E402

DESCRIPTION = "record real cryptsetup outputs of luks-probe-commands.txt into tests/fixtures/cryptsetup-reference/"
MANUAL = True

COMMANDS = (pathlib.Path(__file__).parent.parent / "luks-probe-commands.txt").read_text()

SETUP = _luks.SETUP_LIB + r"""
scenario_setup() {
    systemctl disable keygate.service          # nothing to gate here
    zpool destroy nest
    printf '%s' keygate-probe-key-file-0123456789 >/root/k.key
    printf '%s' not-the-key-file >/root/wrong.key
    truncate -s 16M /root/plain.img
    luks_format /dev/disk/by-id/virtio-pool0 probe0
    luks_format /dev/disk/by-id/virtio-pool1 probe1 /root/k.key
    cryptsetup close probe0
    cryptsetup close probe1
    cat >/root/luks-probe-commands.txt <<'KGVM_EOF'
""" + COMMANDS + r"""KGVM_EOF
}
"""


def run(t):
    t.boot()
    t.wait_multi_user()
    rc, out = t.sh("bash /kgvm/probe.sh /root/luks-probe-commands.txt /root/probe-output.txt", timeout=600)
    t.check(rc == 0, f"probe script ran ({out.strip()})")
    data = t.vm.shell.fetch("cat /root/probe-output.txt")
    version = t.out("dpkg-query -W -f '${Version}' cryptsetup-bin")
    upstream = t.out("cryptsetup --version | cut -d' ' -f2")
    kernel = t.out("uname -r")
    header = (
        f"# Real cryptsetup {upstream} (cryptsetup-bin {version}, Debian bookworm, kernel {kernel}, "
        f"qemu {t.cfg.accel}) probe outputs\n"
        "# recorded by `tests/vm/run luks_probe` from tests/vm/luks-probe-commands.txt (setup: see that file)\n"
        "# each command was run as: bash -c CMD </dev/null in /root\n\n"
    ).encode()
    dest_dir = t.cfg.repo / "tests/fixtures/cryptsetup-reference"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"real-cryptsetup-{upstream}-probe.txt"
    dest.write_bytes(header + data)
    (t.rundir / dest.name).write_bytes(header + data)
    n = data.count(b"\n### ") + data.startswith(b"### ")
    t.check(n > 10, f"recorded {n} commands into {dest}")
