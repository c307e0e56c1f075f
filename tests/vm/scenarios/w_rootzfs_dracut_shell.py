"""w. Root on encrypted ZFS, dracut's shell initramfs (no systemd in it, as
on Funtoo with OpenRC: --omit "systemd systemd-initrd dracut-systemd"),
root=zfs:AUTO. keygate's pre-mount hook imports the pools, takes the root
from the pool's bootfs and runs keygate; zfs's mount hook then finds the
key loaded and asks nothing. Typed once on ttyS0, the kernel console."""

DESCRIPTION = "root on encrypted ZFS, dracut shell initramfs, root=zfs:AUTO: typed once on ttyS0"
ROOT = "zfs"
SETUP = ""


def run(t):
    t.type_once("dracut-shell", "zfs:AUTO", "ttyS0")
