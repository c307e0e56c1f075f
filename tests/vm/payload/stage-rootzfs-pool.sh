#!/bin/bash
# keygate VM tier, encrypted-root scenarios: the boot that makes the shared
# root pool (cached by the harness under a hash of the image and this file,
# see rootzfs.py). Booted from the ext4 image with two blank disks:
#   rpool  rpool/ROOT (encrypted, passphrase) and rpool/ROOT/debian, the
#          pool's bootfs, holding a copy of this root; rpool/data, another
#          encryption root with the same passphrase
#   tank   tank/vault, an encryption root with the same passphrase, in a
#          pool the initramfs leaves alone (root=zfs:POOL/DS imports only
#          POOL): its key must come from the real root's gate, which has
#          only the passphrase the initramfs handed over
# keygate is not in it: the per-run install boot (stage-rootzfs-install.sh)
# puts the build under test into the root.
set -euo pipefail
P=/kgvm/payload
say() { echo "kgvm-install: $*"; }
# shellcheck source=/dev/null
source "$P/lib.sh"

passphrase() { cat "$P/passphrase"; }

make_pools() {
    modprobe zfs
    # -R (altroot) implies cachefile=none: no zpool.cache anywhere, so every
    # boot finds its pools by scanning, as a fresh installation does.
    zpool create -f -o ashift=12 -O compression=lz4 -O acltype=posixacl -O xattr=sa \
        -O mountpoint=none -O canmount=off -R /mnt rpool /dev/disk/by-id/virtio-rpool0
    passphrase | zfs create -o encryption=on -o keyformat=passphrase -o keylocation=prompt \
        -o mountpoint=none -o canmount=off rpool/ROOT
    zfs create -o mountpoint=/ -o canmount=noauto rpool/ROOT/debian
    zfs mount rpool/ROOT/debian
    zpool set bootfs=rpool/ROOT/debian rpool
    passphrase | zfs create -o encryption=on -o keyformat=passphrase -o keylocation=prompt \
        -o mountpoint=/rpool/data rpool/data
    echo "canary of rpool/data" >/mnt/rpool/data/canary
    zpool create -f -o cachefile=none -O mountpoint=none -O canmount=off tank \
        /dev/disk/by-id/virtio-tank0
    passphrase | zfs create -o encryption=on -o keyformat=passphrase -o keylocation=prompt \
        -o mountpoint=/tank/vault tank/vault
    echo "canary of tank/vault" >/tank/vault/canary
}

copy_root() {
    say "copying the root file system into rpool/ROOT/debian"
    # What a booted test root never needs: the kernel's build tree and the
    # zfs module's sources (the module is built), caches, this boot's journal.
    tar -C / --one-file-system -cf - \
        --exclude=./usr/src --exclude=./var/lib/dkms --exclude=./var/cache/apt \
        --exclude='./var/log/journal/*' --exclude=./etc/zfs/zpool.cache \
        --exclude='./kgvm/*' . |
        tar -C /mnt -xpf -
    # The root is rpool/ROOT/debian now: the kernel's root= mounts it.
    sed -i '/LABEL=kgroot/d' /mnt/etc/fstab
    say "root copied: $(du -sh --apparent-size /mnt | cut -f1) in $(zfs get -H -o value used rpool/ROOT/debian)"
}

main() {
    make_pools
    copy_root
    zfs unmount -a
    zpool export tank
    zpool export rpool
    install_done
}

main "$@"
