"""u. Root on encrypted ZFS, initramfs-tools. The guest boots straight into
the initramfs Debian builds (mkinitramfs with zfs-initramfs and keygate's
hook and load-key drop-in), root=zfs:rpool/ROOT/debian. keygate asks on the
kernel console (ttyS0) and on the LOM line of its configuration (ttyS1) at
once; the passphrase is typed once, on ttyS1. The root mounts, the
initramfs's gate opens rpool/data with the same passphrase, the real root's
gate opens tank/vault with the passphrase handed over in the kernel keyring
and removes it, and the boot reaches multi-user: one question per line in
the whole boot."""

DESCRIPTION = "root on encrypted ZFS, initramfs-tools: typed once on ttyS1 for the whole boot"
ROOT = "zfs"
SETUP = ""


def run(t):
    t.type_once("initramfs-tools", "zfs:rpool/ROOT/debian", "ttyS1")
