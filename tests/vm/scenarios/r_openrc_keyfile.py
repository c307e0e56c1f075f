"""r. OpenRC (Debian's layout), a root whose key is in a file: Debian puts
zfs-load-key in the default runlevel, after the mounts, so keygate loads the
key itself in sysinit. Nobody is asked; the dataset is mounted by zfs-mount."""

DESCRIPTION = "OpenRC: a file-keyed root loads in sysinit with nobody asked (zfs-load-key is in default)"

INIT = "openrc"

SETUP = r"""
scenario_setup() {
    printf 'filepass123\n' >/root/nest-f.key
    chmod 600 /root/nest-f.key
    zfs create -o encryption=on -o keyformat=passphrase -o keylocation=file:///root/nest-f.key \
        -o pbkdf2iters=100000 nest/f
    echo "canary of nest/f" >/nest/f/canary
}
"""


def run(t):
    vm = t.boot()
    t.timing("boot_to_default", t.wait_openrc_default())
    t.check(t.out("ls -1 /etc/runlevels/default/zfs-load-key /etc/runlevels/sysinit/zfs-mount") ==
            "/etc/runlevels/default/zfs-load-key\n/etc/runlevels/sysinit/zfs-mount",
            "zfs-load-key is in the default runlevel, zfs-mount in sysinit")
    for name in ("ttyS0", "ttyS1"):
        asked = t.questions(vm.lines[name])
        t.check(not asked, f"nobody was asked on {name} ({asked!r})")
    t.check("loaded the key of nest/f from its keylocation" in vm.lines["ttyS0"].text(),
            "keygate said it loaded nest/f from its keylocation")
    t.assert_openrc_unlocked(["nest/f"])
    order = t.order()
    end, load = order.get("started keygate"), order.get("begin zfs-load-key")
    t.check(end is not None and load is not None and end < load,
            f"keygate ({end}) was done before zfs-load-key began ({load})")
    t.check(t.out("cat /nest/f/canary") == "canary of nest/f", "nest/f's canary file is readable")
