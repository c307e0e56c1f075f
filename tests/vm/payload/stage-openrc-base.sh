#!/bin/bash
# keygate VM tier, OpenRC guests: the boot that makes the shared OpenRC disk
# (still under the image's systemd; cached by the harness, see harness.py).
# Replaces systemd as init by sysvinit + OpenRC from the .debs in the payload
# the way Debian does it, sets up inittab (the harness's shell on ttyS2, a
# getty on ttyS0), makes OpenRC show the start order, and installs the
# OpenRC counterpart of kgvm-stage.service. Then powers off: the next boot is
# a sysvinit + OpenRC one.
set -euo pipefail
P=/kgvm/payload
say() { echo "kgvm-install: $*"; }

install_openrc() {
    say "installing sysvinit-core, initscripts and openrc: $(cd "$P/debs" && echo *.deb)"
    # Nothing is started while packages are configured.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    # sysvinit-core conflicts with (and replaces) systemd-sysv: dpkg removes it.
    DEBIAN_FRONTEND=noninteractive dpkg -i "$P"/debs/*.deb
    rm -f /usr/sbin/policy-rc.d
    if dpkg-query -W -f '${Status}' systemd-sysv 2>/dev/null | grep -q 'ok installed'; then
        say "error: systemd-sysv is still installed"
        exit 1
    fi
    # systemd-sysv made /sbin/init a link to systemd; sysvinit's is a program.
    [[ ! -L /sbin/init ]] || { say "error: /sbin/init is still $(readlink /sbin/init)"; exit 1; }
}

configure_init() {
    say "inittab: the harness's shell on ttyS2 before rcS, a getty on ttyS0"
    install -m 755 "$P/openrc-shell.sh" /usr/local/sbin/kgvm-shell-openrc
    cat >/etc/inittab <<'TAB'
# keygate VM tier: Debian's inittab with serial lines only.
id:2:initdefault:
# The harness's root shell on ttyS2, started before rcS so that it is there
# while keygate holds the sysinit runlevel.
kg::sysinit:/usr/local/sbin/kgvm-shell-openrc
si::sysinit:/etc/init.d/rcS
~~:S:wait:/sbin/sulogin --force
l0:0:wait:/etc/init.d/rc 0
l1:1:wait:/etc/init.d/rc 1
l2:2:wait:/etc/init.d/rc 2
l3:3:wait:/etc/init.d/rc 3
l4:4:wait:/etc/init.d/rc 4
l5:5:wait:/etc/init.d/rc 5
l6:6:wait:/etc/init.d/rc 6
z6:6:respawn:/sbin/sulogin --force
# The runlevel's rc is done: the harness waits for this file.
kd:2345:wait:/bin/sh -c 'date +%s.%N >/run/kgvm-default-done'
T0:2345:respawn:/sbin/agetty --noclear -L 115200 ttyS0 vt100
ca:12345:ctrlaltdel:/sbin/shutdown -t1 -a -r now
TAB
    # The start order, visible on the console and in /var/log/rc.log.
    cat >>/etc/rc.conf <<'CONF'

# keygate VM tier
rc_verbose="YES"
rc_logger="YES"
CONF
    install -m 755 "$P/openrc-stage.initd" /etc/init.d/kgvm-stage
    rc-update add kgvm-stage default
}

main() {
    install_openrc
    configure_init
    say "OpenRC runlevels: $(cd /etc/runlevels && for r in *; do printf '%s: %s; ' "$r" "$(ls "$r" | tr '\n' ' ')"; done)"
    sync
    say "KGVM-INSTALL-OK"
    echo "KGVM-INSTALL-OK" >/dev/ttyS0
    systemctl --no-block poweroff
}

main "$@"
