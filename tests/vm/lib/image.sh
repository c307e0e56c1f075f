# shellcheck shell=bash disable=SC2016
# The recipe of the Debian bookworm guest image with OpenZFS. Everything in
# this file and in guest/ goes into the image hash (lib/cache.sh): change
# either and the next run builds a new image.
#
# Output, in "$IMAGE_DIR": disk.qcow2 (root ext4, whole disk, no partition
# table), vmlinuz, initrd.img, kernel-version, zfs-version, and tree/: the
# guest's root tree itself, from which the encrypted-root scenarios build
# their initramfs images on the host (lib/rootzfs-initrds.sh).

GUEST_SUITE=bookworm
GUEST_BASE_PKGS=systemd,systemd-sysv,udev,kmod,e2fsprogs,procps,util-linux,less
GUEST_KERNEL_PKGS="linux-image-amd64 linux-headers-amd64"
# zfs-initramfs: zfs's initramfs-tools scripts, for the encrypted-root
# scenarios (the image's own initrd boots the ext4 root and ignores them).
GUEST_ZFS_PKGS="zfs-dkms zfsutils-linux zfs-initramfs"
# The other initramfs generator, beside initramfs-tools: dracut-core 059
# from bookworm (the dracut metapackage conflicts with initramfs-tools), and
# the files of zfs-dracut from backports unpacked without its dependency on
# dracut. The encrypted-root scenarios build every initramfs from this tree.
GUEST_DRACUT_PKGS="dracut-core"
GUEST_DRACUT_ZFS=zfs-dracut
# LUKS scenarios: the cryptsetup CLI (bookworm's systemd package already ships
# systemd-cryptsetup and its generator, and depends on libcryptsetup12), and
# keyctl to look at the kernel keyring from the guest shell. No
# cryptsetup-initramfs: the LUKS devices are data disks opened in the booted
# system, never in the initramfs.
GUEST_LUKS_PKGS="cryptsetup-bin keyutils"
# Key-provider scenarios: clevis with its TPM2 pin (clevis-tpm2 pulls in
# tpm2-tools) for `keygate bind ROOT tpm2 ...`; the TPM is the host's swtpm.
GUEST_PROVIDER_PKGS="clevis clevis-tpm2 tpm2-tools"
GUEST_DISK_SIZE=3G

# Mounts made for the chroot; undone by chroot_umount.
CHROOT_MOUNTS=()

chroot_mount() {
    local root=$1
    mount -t proc proc "$root/proc"
    CHROOT_MOUNTS+=("$root/proc")
    mount -t sysfs sysfs "$root/sys"
    CHROOT_MOUNTS+=("$root/sys")
    mount --bind /dev "$root/dev"
    CHROOT_MOUNTS+=("$root/dev")
    mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666
    CHROOT_MOUNTS+=("$root/dev/pts")
}

chroot_umount() {
    local i
    for ((i = ${#CHROOT_MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -l "${CHROOT_MOUNTS[i]}" 2>/dev/null || true
    done
    CHROOT_MOUNTS=()
}

# in_chroot ROOT CMD...: run a command in the guest tree.
in_chroot() {
    local root=$1
    shift
    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        chroot "$root" "$@"
}

build_image() {
    local out=$1 work root
    work="$CACHE_DIR/build-$$"
    root="$work/rootfs"
    rm -rf "$work"
    mkdir -p "$work"
    # shellcheck disable=SC2064
    trap "chroot_umount; rm -rf '$work'" EXIT
    trap 'exit 130' INT TERM
    stage_debootstrap "$root" "$work/debootstrap.log"
    chroot_mount "$root"
    stage_packages "$root" "$work/apt.log"
    stage_zfs_module "$root" "$work/dkms.log"
    stage_configure "$root"
    chroot_umount
    stage_disk "$root" "$work"
    rm -rf "$out"
    mkdir -p "$out"
    mv "$work"/disk.qcow2 "$work"/vmlinuz "$work"/initrd.img \
        "$work"/kernel-version "$work"/zfs-version "$out"/
    mv "$root" "$out/tree"
    touch "$out/complete"
    rm -rf "$work"
    trap - EXIT INT TERM
    log "guest image ready: $out (kernel $(cat "$out/kernel-version"), zfs $(cat "$out/zfs-version"))"
}

stage_debootstrap() {
    local root=$1 logf=$2
    log "debootstrap $GUEST_SUITE (log: $logf)"
    debootstrap --variant=minbase --include="$GUEST_BASE_PKGS" \
        "$GUEST_SUITE" "$root" "$DEBIAN_MIRROR" >"$logf" 2>&1 ||
        { tail -n 30 "$logf" >&2; die "debootstrap failed"; }
}

stage_packages() {
    local root=$1 logf=$2
    cat >"$root/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $GUEST_SUITE main contrib
deb $DEBIAN_MIRROR $GUEST_SUITE-updates main contrib
deb $DEBIAN_MIRROR $GUEST_SUITE-backports main contrib
EOF
    # No daemons start inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$root/etc/apt/apt.conf.d/90keygate-vm"
    log "apt-get: kernel (log: $logf)"
    {
        in_chroot "$root" apt-get update
        # shellcheck disable=SC2086
        in_chroot "$root" apt-get install -y $GUEST_KERNEL_PKGS initramfs-tools
    } >>"$logf" 2>&1 || { tail -n 30 "$logf" >&2; die "apt-get (kernel) failed"; }
    log "apt-get: OpenZFS from $GUEST_SUITE-backports"
    # shellcheck disable=SC2086
    in_chroot "$root" apt-get install -y -t "$GUEST_SUITE-backports" $GUEST_ZFS_PKGS \
        >>"$logf" 2>&1 || { tail -n 40 "$logf" >&2; die "apt-get (zfs) failed"; }
    log "apt-get: $GUEST_DRACUT_PKGS, and $GUEST_DRACUT_ZFS unpacked"
    {
        # shellcheck disable=SC2086
        in_chroot "$root" apt-get install -y $GUEST_DRACUT_PKGS
        in_chroot "$root" sh -c "cd /tmp && apt-get download $GUEST_DRACUT_ZFS/$GUEST_SUITE-backports"
        dpkg-deb -x "$root"/tmp/"$GUEST_DRACUT_ZFS"_*.deb "$root"
        rm -f "$root"/tmp/"$GUEST_DRACUT_ZFS"_*.deb
        [[ -f $root/usr/lib/dracut/modules.d/90zfs/module-setup.sh ]]
    } >>"$logf" 2>&1 || { tail -n 30 "$logf" >&2; die "apt-get (dracut) failed"; }
    log "apt-get: LUKS tools ($GUEST_LUKS_PKGS)"
    # shellcheck disable=SC2086
    in_chroot "$root" apt-get install -y $GUEST_LUKS_PKGS \
        >>"$logf" 2>&1 || { tail -n 30 "$logf" >&2; die "apt-get (LUKS tools) failed"; }
    log "apt-get: key providers ($GUEST_PROVIDER_PKGS)"
    # shellcheck disable=SC2086
    in_chroot "$root" apt-get install -y $GUEST_PROVIDER_PKGS \
        >>"$logf" 2>&1 || { tail -n 30 "$logf" >&2; die "apt-get (key providers) failed"; }
}

# guest_kernel_version ROOT: the one kernel installed in the guest tree.
guest_kernel_version() {
    local root=$1 kvers
    kvers=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n')
    [[ $(wc -l <<<"$kvers") == 1 ]] || die "expected one guest kernel, found: $kvers"
    echo "$kvers"
}

# stage_zfs_module: make sure DKMS built zfs.ko for the guest kernel (the
# package's own hook may have aimed at the host's `uname -r`).
stage_zfs_module() {
    local root=$1 logf=$2 kver zver
    kver=$(guest_kernel_version "$root")
    zver=$(in_chroot "$root" dpkg-query -W -f '${Version}' zfs-dkms | sed 's/-.*//')
    if ! find "$root/lib/modules/$kver" -name 'zfs.ko*' | grep -q .; then
        log "DKMS: building zfs $zver for guest kernel $kver (log: $logf)"
        in_chroot "$root" dkms install -m zfs -v "$zver" -k "$kver" >"$logf" 2>&1 ||
            { tail -n 40 "$logf" >&2; die "DKMS build of zfs for $kver failed"; }
    fi
    find "$root/lib/modules/$kver" -name 'zfs.ko*' | grep -q . ||
        die "zfs.ko missing for guest kernel $kver"
    in_chroot "$root" depmod -a "$kver"
    echo "$kver" >"$root/.kernel-version"
    in_chroot "$root" dpkg-query -W -f '${Version}' zfsutils-linux >"$root/.zfs-version"
    log "zfs module built for guest kernel $kver"
}

stage_configure() {
    local root=$1 kver
    kver=$(cat "$root/.kernel-version")
    log "configuring the guest"
    echo kgvm >"$root/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 kgvm\n' >"$root/etc/hosts"
    printf 'LABEL=kgroot / ext4 defaults,errors=remount-ro 0 1\n' >"$root/etc/fstab"
    in_chroot "$root" passwd -d root >/dev/null
    cp -a "$VM_DIR/guest/rootfs/." "$root/"
    # Anything that only slows a test boot down.
    in_chroot "$root" systemctl mask --quiet \
        apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
        fstrim.timer man-db.timer dpkg-db-backup.timer zfs-zed.service \
        zfs-scrub-monthly@.timer zfs-trim-monthly@.timer systemd-timesyncd.service \
        2>/dev/null || true
    in_chroot "$root" systemctl enable --quiet kgvm-shell.service kgvm-stage.service
    mkdir -p "$root/var/log/journal"
    rm -f "$root/usr/sbin/policy-rc.d"
    in_chroot "$root" update-initramfs -u -k "$kver" >/dev/null 2>&1 ||
        die "update-initramfs failed"
    in_chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
        "$root"/var/cache/debconf/*-old
}

stage_disk() {
    local root=$1 work=$2 kver
    kver=$(cat "$root/.kernel-version")
    mv "$root/.kernel-version" "$work/kernel-version"
    mv "$root/.zfs-version" "$work/zfs-version"
    cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
    cp "$root/boot/initrd.img-$kver" "$work/initrd.img"
    log "mkfs.ext4 -d (no loop device) and qcow2 compression"
    truncate -s "$GUEST_DISK_SIZE" "$work/disk.raw"
    mkfs.ext4 -q -F -L kgroot -d "$root" "$work/disk.raw"
    qemu-img convert -c -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
    rm -f "$work/disk.raw"
}
