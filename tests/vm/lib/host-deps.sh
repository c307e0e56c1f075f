# shellcheck shell=bash
# Install the host packages the VM tier needs, idempotently.

BACKPORTS_LIST=/etc/apt/sources.list.d/keygate-vm-backports.list

# have_host_deps: true when every tool is already there.
have_host_deps() {
    command -v qemu-system-x86_64 >/dev/null &&
        command -v qemu-img >/dev/null &&
        command -v debootstrap >/dev/null &&
        command -v mkfs.ext4 >/dev/null &&
        command -v python3 >/dev/null &&
        command -v make >/dev/null &&
        command -v swtpm >/dev/null &&
        have_deb_tools &&
        qemu_is_backports
}

# have_deb_tools: what `make deb` needs for the package the guest installs.
have_deb_tools() {
    command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null
}

# qemu_is_backports: bookworm's qemu-system 7.2 conflicts with qemu-utils 10.
qemu_is_backports() {
    local v
    v=$(dpkg-query -W -f '${Version}' qemu-system-x86 2>/dev/null) || return 1
    [[ $v == *bpo12* ]]
}

add_backports_source() {
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        require_mirror
        log "adding bookworm-backports to apt sources ($BACKPORTS_LIST)"
        echo "deb $DEBIAN_MIRROR bookworm-backports main contrib" >"$BACKPORTS_LIST"
        APT_UPDATED=0
    fi
}

apt_update_once() {
    if [[ ${APT_UPDATED:-0} != 1 ]]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
}

ensure_host_deps() {
    if have_host_deps; then
        return 0
    fi
    [[ $(id -u) == 0 ]] || die "host packages missing and not root; install qemu-system-x86 (bookworm-backports), qemu-utils, debootstrap, e2fsprogs, python3, make, swtpm, dpkg-dev, debhelper"
    log "installing host packages (apt-get)"
    add_backports_source
    apt_update_once
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq -o Dpkg::Use-Pty=0 \
        debootstrap e2fsprogs python3 make swtpm ca-certificates dpkg-dev debhelper >/dev/null
    apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends -t bookworm-backports \
        qemu-system-x86 qemu-utils >/dev/null
    have_host_deps || die "host packages still missing after apt-get install"
}
