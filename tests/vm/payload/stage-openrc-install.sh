#!/bin/bash
# keygate VM tier, install boot of an OpenRC scenario, on the shared OpenRC
# disk (an OpenRC boot; run by /etc/init.d/kgvm-stage in the default
# runlevel): install keygate's files from the `make install INIT=openrc`
# staging tree and set it up as README.md says for Debian, add start-order
# probes and a canary fstab mount, create the pool, run the scenario's
# setup, power off.
set -euo pipefail
P=/kgvm/payload
say() { echo "kgvm-install: $*"; }

# probe SERVICE: a line in /etc/conf.d/SERVICE that logs when the service
# begins to start (after its dependencies are up). openrc-run.sh sources
# conf.d with the action in RC_CMD; gendepends.sh sources it too, and the
# file must end with a true status or the service fails to load.
probe() {
    cat >>"/etc/conf.d/$1" <<'PROBE'

# keygate VM tier: log when this service begins to start.
if [ "${0##*/}" = openrc-run.sh ] && [ "${RC_CMD:-}" = start ]; then
	echo "$(date +%s.%N) begin $RC_SVCNAME" >>/run/kgvm-order.log
fi
PROBE
}

install_keygate() {
    say "installing keygate from the make install staging tree (INIT=openrc)"
    # --keep-directory-symlink: /lib, /sbin, /bin are symlinks on merged-/usr.
    tar -C "$P/stage" -cf - . | tar -C / -xf - --keep-directory-symlink --no-overwrite-dir
    [[ -x /usr/sbin/keygate && -x /etc/init.d/keygate && -f /etc/conf.d/keygate ]] ||
        { say "error: keygate's OpenRC files are not installed"; exit 1; }
    # As README.md says for Debian: sysinit, and the mounts need keygate.
    rc-update add keygate sysinit
    for svc in mountall.sh zfs-mount; do
        printf '# keygate holds the local mounts\nrc_need="keygate"\n' >>"/etc/conf.d/$svc"
    done
    for svc in keygate mountall.sh zfs-mount zfs-import zfs-load-key; do
        probe "$svc"
    done
    # A local mount that mountall.sh makes: absent while the gate holds.
    mkdir -p /mnt/gated
    echo 'tmpfs /mnt/gated tmpfs defaults 0 0' >>/etc/fstab
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
    install_keygate
    create_pool
    # shellcheck source=/dev/null
    source /kgvm/lib.sh
    # shellcheck source=/dev/null
    source /kgvm/scenario.sh
    scenario_setup
    zfs unmount -a || true
    zfs unload-key -a || true
    say "OpenRC runlevels: $(cd /etc/runlevels && for r in *; do printf '%s: %s; ' "$r" "$(ls "$r" | tr '\n' ' ')"; done)"
    zpool sync
    sync
    say "KGVM-INSTALL-OK"
    echo "KGVM-INSTALL-OK" >/dev/ttyS0
    # No rc scripts on the way down: everything is on disk.
    poweroff -f
}

main "$@"
