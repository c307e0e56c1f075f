#!/bin/bash
# keygate VM tier, install boot: install keygate from the staging tree the
# host built with `make install DESTDIR=...`, enable it as a user would, create
# the pool on the fresh disks, run the scenario's setup, power off.
set -euo pipefail
P=/kgvm/payload
say() { echo "kgvm-install: $*"; }

install_keygate() {
    say "installing keygate from the make install staging tree"
    # --keep-directory-symlink: /lib, /sbin, /bin are symlinks on merged-/usr.
    tar -C "$P/stage" -cf - . | tar -C / -xf - --keep-directory-symlink --no-overwrite-dir
    command -v keygate >/dev/null || [[ -x /usr/sbin/keygate ]] || { say "no keygate binary installed"; exit 1; }
    systemctl daemon-reload
    systemctl enable keygate.service
}

create_pool() {
    say "creating pool nest on the fresh disks"
    modprobe zfs
    zpool create -f -o cachefile=/etc/zfs/zpool.cache -O mountpoint=/nest nest \
        mirror /dev/disk/by-id/virtio-pool0 /dev/disk/by-id/virtio-pool1
}

main() {
    mkdir -p /kgvm
    cp -a "$P/lib.sh" "$P/scenario.sh" /kgvm/
    [[ ! -e $P/probe.sh ]] || cp -a "$P/probe.sh" "$P/probe-commands.txt" /kgvm/
    install_keygate
    create_pool
    # shellcheck source=/dev/null
    source /kgvm/lib.sh
    # shellcheck source=/dev/null
    source /kgvm/scenario.sh
    scenario_setup
    zfs unmount -a || true
    zfs unload-key -a || true
    systemctl daemon-reload
    sync
    say "KGVM-INSTALL-OK"
    echo "KGVM-INSTALL-OK" >/dev/ttyS0
    systemctl --no-block poweroff
}

main "$@"
