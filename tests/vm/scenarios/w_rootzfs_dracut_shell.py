"""w. Root on encrypted ZFS, dracut's shell initramfs (no systemd in it, as
on Funtoo with OpenRC: --omit "systemd systemd-initrd dracut-systemd"),
root=zfs:AUTO. keygate's pre-mount hook imports the pools, takes the root
from the pool's bootfs and runs keygate; zfs's mount hook then finds the
key loaded and asks nothing. Typed once on ttyS0, the kernel console."""

DESCRIPTION = "root on encrypted ZFS, dracut shell initramfs, root=zfs:AUTO: typed once on ttyS0"
ROOT = "zfs"
SETUP = ""


def run(t):
    vm = t.boot_root("dracut-shell", "zfs:AUTO")
    console = vm.lines["ttyS0"]
    t.note(f"asked on ttyS0: {t.wait_question(console)!r}")
    t.wait_question(vm.lines["ttyS1"], timeout=60)
    t.timing("boot_to_prompt", vm.since_start())
    console.type(t.PASS + "\r")
    t.assert_booted(vm, "dracut-shell", {"ttyS0": 1, "ttyS1": 1})
