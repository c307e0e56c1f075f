"""probe: record real ZFS answers to tests/vm/probe-commands.txt as fixtures
in tests/fixtures/zfs-probe/ (for the simulator's honesty test). Not run by
default: `tests/vm/run probe`."""

import re

DESCRIPTION = "record real zfs outputs of probe-commands.txt into tests/fixtures/zfs-probe/"
MANUAL = True

SETUP = r"""
scenario_setup() {
    systemctl disable keygate.service          # nothing to gate here
    printf '%s\n' hunter2hunter2 | zfs create -o encryption=on -o keyformat=passphrase \
        -o keylocation=prompt -o pbkdf2iters=100000 nest/a
    zfs create nest/a/b
    zfs create nest/c
    printf '%s\n' hunter2hunter2 | zfs create -o encryption=on -o keyformat=passphrase \
        -o keylocation=prompt -o pbkdf2iters=100000 nest/d
    printf 'filepass123\n' >/root/f.key
    zfs create -o encryption=on -o keyformat=passphrase -o keylocation=file:///root/f.key \
        -o pbkdf2iters=100000 nest/f
}
"""


def run(t):
    t.boot()
    t.wait_multi_user()  # keygate is disabled here: the pool is imported by then
    t.sh("zpool list nest", check=True)
    rc, out = t.sh("bash /kgvm/probe.sh /kgvm/probe-commands.txt /root/probe-output.txt", timeout=600)
    t.check(rc == 0, f"probe script ran ({out.strip()})")
    data = t.vm.shell.fetch("cat /root/probe-output.txt")
    version = t.out("dpkg-query -W -f '${Version}' zfsutils-linux")
    kernel = t.out("uname -r")
    upstream = re.sub(r"-.*", "", version)
    header = (
        f"# Real OpenZFS {upstream} (zfsutils-linux {version}, Debian bookworm, kernel {kernel}, "
        f"qemu {t.cfg.accel}) probe outputs\n"
        "# recorded by `tests/vm/run probe` from tests/vm/probe-commands.txt (setup: see that file)\n"
        "# each command was run as: bash -c CMD </dev/null in /root, KEYDIR=/root\n\n"
    ).encode()
    dest_dir = t.cfg.repo / "tests/fixtures/zfs-probe"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"real-zfs-{upstream}-probe.txt"
    dest.write_bytes(header + data)
    (t.rundir / dest.name).write_bytes(header + data)
    n = data.count(b"\n### ") + data.startswith(b"### ")
    t.check(n > 10, f"recorded {n} commands into {dest}")
