"""pkg. The Debian package on a real systemd machine. The install boot
installed it with `apt-get install ./keygate.deb` (enabled by its postinst,
not started). Boot 1: the shipped unit holds the boot until the passphrase
is answered through systemd's password agent. Then `apt-get remove`: boot 2
reaches multi-user with zfs-mount.service having mounted the pool's
unencrypted dataset, as on a machine that never had keygate, although the
enablement symlinks (local-fs.target and zfs-mount.service require
keygate.service) stay, dangling, until purge; only they, deb-systemd-helper's
record and the conffile are left. Then `apt-get purge`: no keygate file is
left."""

DESCRIPTION = "Debian package: gates the boot; after apt-get remove the next boot mounts as before; purge leaves nothing"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    zfs create nest/plain
    echo plain >/nest/plain/canary
}
"""

# Every path with keygate in its name, outside dpkg's own database, the
# payload, the image's own apt settings (90keygate-vm) and the pseudo file
# systems.
KEYGATE_FILES = ("find / -xdev \\( -path /proc -o -path /sys -o -path /run -o -path /kgvm -o -path /etc/apt "
                 "-o -path /var/lib/dpkg -o -path /var/log -o -path /var/cache \\) -prune "
                 "-o -name '*keygate*' -print | sort")


def run(t):
    t.boot()
    t.wait_keygate_holding()
    t.assert_held(["nest/a"])
    rc, out = t.sh("for i in $(seq 300); do ls /run/systemd/ask-password/ask.* >/dev/null 2>&1 && break; "
                   "sleep 0.2; done; systemd-tty-ask-password-agent --query", timeout=120,
                   answers=[(r"(?i)enter (passphrase|password)[^\n]*", t.PASS + "\n")])
    t.check(rc == 0, f"systemd-tty-ask-password-agent answered keygate's question (rc={rc})")
    t.wait_multi_user()
    t.assert_unlocked_and_running(["nest/a"])

    rc, out = t.sh("DEBIAN_FRONTEND=noninteractive apt-get remove -y keygate 2>&1", timeout=180)
    t.check(rc == 0, "apt-get remove keygate succeeded")
    t.vm.poweroff()

    # What a user sees first: the next boot mounts the pool as before.
    t.boot("boot-after-remove")
    t.wait_multi_user()
    t.check(t.out("systemctl show -p LoadState --value keygate.service") == "not-found",
            "keygate.service is gone")
    for unit in ("zfs-mount.service", "local-fs.target"):
        st = t.unit_state(unit)
        t.check(st == "active", f"{unit} ran on the boot after remove ({st})")
    t.check(t.out("zfs get -H -o value mounted nest/plain") == "yes" and
            t.out("cat /nest/plain/canary") == "plain", "nest/plain mounted by zfs-mount.service")
    # Left until purge, as Debian keeps a removed package's configuration:
    # the conffiles (keygate.toml and zfs's initramfs drop-in, which does
    # nothing without /usr/sbin/keygate) and deb-systemd-helper's enablement
    # (its record, and the two symlinks, now dangling, which systemd ignored
    # on this boot).
    left = t.out(KEYGATE_FILES).split()
    want = ["/etc/keygate", "/etc/keygate/keygate.toml",
            "/etc/systemd/system/local-fs.target.requires/keygate.service",
            "/etc/systemd/system/zfs-mount.service.requires/keygate.service",
            "/etc/zfs/initramfs-tools-load-key.d/keygate"]
    t.check([f for f in left if "deb-systemd-helper" not in f] == want and
            "/var/lib/systemd/deb-systemd-helper-enabled/keygate.service.dsh-also" in left,
            f"after remove only the conffiles and the enablement are left ({' '.join(left)})")

    rc, out = t.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y keygate 2>&1", timeout=180)
    t.check(rc == 0, "apt-get purge keygate succeeded")
    left = t.out(KEYGATE_FILES)
    t.check(left == "", f"after purge no keygate file is left ({' '.join(left.split())})")
    t.check(t.out("dpkg-query -W -f '${db:Status-Abbrev}' keygate 2>&1; true").startswith(("un", "dpkg-query: no packages")),
            "dpkg no longer knows keygate")
