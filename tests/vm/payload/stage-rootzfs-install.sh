#!/bin/bash
# keygate VM tier, encrypted-root scenarios: the per-run install boot
# (booted from the ext4 image with the root pool's disk). Installs the
# keygate package under test into rpool/ROOT/debian as a user would (apt-get
# install of the .deb, which enables keygate.service), writes the keygate
# configuration the initramfs images were built with, and adds the services
# that need the data roots.
set -euo pipefail
P=/kgvm/payload
R=/mnt
say() { echo "kgvm-install: $*"; }
# shellcheck source=/dev/null
source "$P/lib.sh"

mounts=()
bind() {
    mount --bind "/$1" "$R/$1"
    mounts+=("$R/$1")
}

main() {
    modprobe zfs
    zpool import -N -R "$R" rpool
    zfs load-key rpool/ROOT <"$P/passphrase"
    zfs mount rpool/ROOT/debian
    bind dev
    bind proc
    bind sys
    # The guest boots the initramfs images the host built; the package's
    # trigger would only cost time under TCG.
    sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$R/etc/initramfs-tools/update-initramfs.conf"
    printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
    chmod 755 "$R/usr/sbin/policy-rc.d"
    cp "$P/keygate.deb" "$R/tmp/keygate.deb"
    say "installing keygate into rpool/ROOT/debian with apt-get install ./keygate.deb"
    chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y /tmp/keygate.deb
    rm -f "$R/tmp/keygate.deb" "$R/usr/sbin/policy-rc.d"
    [[ $(chroot "$R" systemctl is-enabled keygate.service) == enabled ]] ||
        { say "error: the package did not enable keygate.service"; exit 1; }
    install -D -m 644 "$P/keygate.toml" "$R/etc/keygate/keygate.toml"
    # No zpool.cache: the real root finds tank by scanning, as zfs does on a
    # machine without a cache file (Debian enables only the cache import).
    chroot "$R" systemctl enable --quiet zfs-import-scan.service
    # Services that need the data roots (lib.sh, run in the root).
    cp "$P/lib.sh" "$R/tmp/kgvm-lib.sh"
    chroot "$R" bash -c '. /tmp/kgvm-lib.sh && mk_dependent_unit kgvm-needs-data rpool/data &&
        mk_dependent_unit kgvm-needs-vault tank/vault'
    rm -f "$R/tmp/kgvm-lib.sh"
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}"; done
    zfs unmount -a
    zpool export rpool
    install_done
}

main "$@"
