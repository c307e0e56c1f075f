#!/bin/bash
# keygate VM tier, install boot: install keygate from the Debian package the
# host built with `make deb` (or, for INSTALL = "make" scenarios, from the
# staging tree of `make install DESTDIR=...`), enable it as a user would,
# create the pool on the fresh disks, run the scenario's setup, power off.
set -euo pipefail
P=/kgvm/payload
say() { echo "kgvm-install: $*"; }

# install_deb: the Debian package, as a user installs it. The guest has no
# network; the package's dependencies are already installed, so apt-get
# installs the local file offline. Its postinst enables keygate.service
# (deb-systemd-helper) and must not start it; `systemctl enable`, as the
# README says to run, must then work too (no init.d script in the way).
install_deb() {
    say "installing keygate with apt-get install ./keygate.deb"
    # The guest boots the kernel and initramfs the host took from the image
    # (qemu -kernel/-initrd), never /boot: the update-initramfs trigger the
    # package activates would only cost time under TCG.
    sed -i 's/^update_initramfs=.*/update_initramfs=no/' /etc/initramfs-tools/update-initramfs.conf
    cp "$P/keygate.deb" /tmp/keygate.deb
    DEBIAN_FRONTEND=noninteractive apt-get install -y /tmp/keygate.deb
    rm -f /tmp/keygate.deb
    say "package: $(dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}' keygate)"
    [[ $(systemctl is-enabled keygate.service) == enabled ]] || { say "error: the package did not enable keygate.service"; exit 1; }
    state=$(systemctl is-active keygate.service || true)
    [[ $state == inactive ]] || { say "error: installing the package started keygate.service ($state)"; exit 1; }
    [[ ! -e /etc/init.d/keygate ]] || { say "error: the package put a script in /etc/init.d"; exit 1; }
    systemctl enable keygate.service
    say "keygate.service enabled by the package, not started; systemctl enable works"
}

install_keygate() {
    if [[ -f $P/keygate.deb ]]; then
        install_deb
        return 0
    fi
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
    install_done
}

main "$@"
