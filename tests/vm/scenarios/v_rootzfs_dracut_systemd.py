"""v. Root on encrypted ZFS, dracut with systemd in the initramfs (dracut
059, zfs's 90zfs module and keygate's 91keygate, --no-hostonly),
root=zfs:rpool/ROOT/debian. keygate-initrd.service loads the root's key
after zfs-import.target and before dracut-pre-mount.service, so zfs's own
systemd-ask-password prompt never appears. Typed once on ttyS1; then as u."""

DESCRIPTION = "root on encrypted ZFS, dracut (systemd initramfs): typed once on ttyS1"
ROOT = "zfs"
SETUP = ""


def run(t):
    t.type_once("dracut-systemd", "zfs:rpool/ROOT/debian", "ttyS1")
