#!/bin/sh
# dracut pre-mount hook 95 (the shell initramfs, without systemd, as on
# Funtoo with OpenRC), installed by module-setup.sh. dracut's init sources
# it: return, never exit.
#
# zfs imports the root pool only in its mount hook, so the pool is imported
# here, as that hook would (root=zfs:AUTO: the first bootfs of the pools;
# root=zfs:pool/ds: that pool), and keygate loads its keys. zfs's mount hook
# then finds the pool imported and the key loaded, and asks nothing.
# shellcheck shell=sh
# shellcheck disable=SC2154 # root, ZPOOL_IMPORT_OPTS: from decode_root_args and zfs's cmdline hook

# zfs's functions (decode_root_args), unless a hook before sourced them.
if ! command -v decode_root_args >/dev/null 2>&1; then
	# shellcheck source=/dev/null
	. /lib/dracut-zfs-lib.sh
fi

keygate_pre_mount() {
	decode_root_args || return 0
	modprobe zfs 2>/dev/null
	udevadm settle
	keygate_root=$root
	if [ "$keygate_root" = zfs:AUTO ]; then
		if ! keygate_root=$(zpool get -Ho value bootfs | grep -m1 -vFx -); then
			# shellcheck disable=SC2086 # options, split on purpose
			zpool import -N -a ${ZPOOL_IMPORT_OPTS}
			keygate_root=$(zpool get -Ho value bootfs | grep -m1 -vFx -) || {
				warn "keygate: no pool names a bootfs; leaving the root to zfs"
				return 0
			}
		fi
	fi
	keygate_pool=${keygate_root%%/*}
	if ! zpool get -Ho value name "$keygate_pool" >/dev/null 2>&1; then
		# shellcheck disable=SC2086 # options, split on purpose
		zpool import -N ${ZPOOL_IMPORT_OPTS} "$keygate_pool" || {
			warn "keygate: cannot import $keygate_pool; leaving it to zfs"
			return 0
		}
	fi
	/usr/sbin/keygate --service-manager none gate --initramfs "$keygate_root"
	case $? in
	0 | 2) ;; # loaded; or keygate could not run (it said why) and zfs asks
	*)
		emergency_shell -n keygate "keygate: the key of $keygate_root is not loaded. Load it with 'zfs load-key -r $keygate_pool' (or 'keygate unlock'), then type 'exit' to continue the boot."
		;;
	esac
	return 0
}
keygate_pre_mount
