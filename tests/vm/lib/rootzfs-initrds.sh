#!/bin/bash
# keygate VM tier, encrypted-root scenarios: build the three initramfs
# images on the host, from the image's root tree with the keygate package
# under test installed (an overlay: the cached tree is not changed).
#
#   rootzfs-initrds.sh TREE KVER DEB CONFIG OUTDIR
#
# OUTDIR gets
#   initrd-itools.img  initramfs-tools (mkinitramfs), zfs-initramfs's script
#                      sourcing keygate's load-key drop-in
#   initrd-dracut-sd.img  dracut 059 with systemd in the initramfs:
#                      keygate-initrd.service
#   initrd-dracut-sh.img  dracut's shell initramfs (no systemd, as on Funtoo):
#                      keygate's pre-mount hook
# each checked to hold what keygate installs, and build.log.
set -euo pipefail
tree=$1 kver=$2 deb=$3 config=$4 out=$5

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
# shellcheck source=image.sh
source "$here/image.sh" # chroot_mount, chroot_umount, in_chroot

work=$(mktemp -d "$out/.initrds.XXXXXX")
root=$work/root
cleanup() {
    chroot_umount
    umount -l "$root" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/upper" "$work/work" "$root"
mount -t overlay overlay -o "lowerdir=$tree,upperdir=$work/upper,workdir=$work/work" "$root"
chroot_mount "$root"
in_root() { in_chroot "$root" "$@"; }

logf=$out/build.log
: >"$logf"
{
    # The package as a user installs it; its initramfs trigger is left to
    # the explicit builds below.
    sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$root/etc/initramfs-tools/update-initramfs.conf"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    cp "$deb" "$root/tmp/keygate.deb"
    in_root dpkg -i /tmp/keygate.deb
    install -D -m 644 "$config" "$root/etc/keygate/keygate.toml"
} >>"$logf" 2>&1 || { tail -n 30 "$logf" >&2; die "installing keygate into the tree failed"; }

# build NAME COMMAND...: run COMMAND in the tree, writing /tmp/NAME, in the
# background (each generator works in a temporary directory of its own);
# its log is OUT/NAME.log, its seconds go to build-times.tsv.
pids=()
build() {
    local name=$1
    shift
    log "initramfs $name: $*"
    (
        start=$SECONDS
        in_root "$@" >"$out/$name.log" 2>&1 || exit 1
        mv "$root/tmp/$name" "$out/$name"
        printf '%s\t%s\n' "$name" "$((SECONDS - start))" >>"$out/build-times.tsv"
    ) &
    pids+=("$!:$name")
}
: >"$out/build-times.tsv"
build initrd-itools.img mkinitramfs -o /tmp/initrd-itools.img "$kver"
build initrd-dracut-sd.img dracut --force --no-hostonly --add "zfs keygate" \
    --kver "$kver" /tmp/initrd-dracut-sd.img
build initrd-dracut-sh.img dracut --force --no-hostonly --add "zfs keygate" \
    --omit "systemd systemd-initrd dracut-systemd" --kver "$kver" /tmp/initrd-dracut-sh.img
failed=
for p in "${pids[@]}"; do
    wait "${p%%:*}" || { tail -n 30 "$out/${p#*:}.log" >&2; failed+=" ${p#*:}"; }
done
[[ -z $failed ]] || die "building$failed failed"

# contains NAME PATH...: every PATH is in the image (lsinitramfs lists both
# generators' images).
contains() {
    local name=$1 list path
    shift
    list=$(in_root lsinitramfs "/tmp/check.img" 2>/dev/null) || true
    for path; do
        grep -qxF "$path" <<<"$list" || die "$name lacks $path"
    done
}
check() {
    local name=$1
    shift
    cp "$out/$name" "$root/tmp/check.img"
    contains "$name" "$@"
    rm -f "$root/tmp/check.img"
}
check initrd-itools.img usr/sbin/keygate etc/keygate/keygate.toml \
    etc/zfs/initramfs-tools-load-key.d/keygate scripts/zfs
check initrd-dracut-sd.img usr/sbin/keygate etc/keygate/keygate.toml \
    usr/lib/systemd/system/keygate-initrd.service \
    etc/systemd/system/initrd.target.wants/keygate-initrd.service
check initrd-dracut-sh.img usr/sbin/keygate etc/keygate/keygate.toml \
    usr/lib/dracut/hooks/pre-mount/95-keygate-pre-mount.sh
log "initramfs images ready in $out"
