#!/bin/bash
# dracut module keygate (installed as /usr/lib/dracut/modules.d/91keygate):
# keygate loads the keys of the ZFS root pool before zfs's own prompt, on
# every kernel console and the LOM lines of /etc/keygate/keygate.toml at
# once, and hands the passphrase over to the real root's gate.
#
# Regenerate the initramfs after installing or configuring keygate:
#   dracut -f

# Included whenever keygate is installed: the module does nothing unless
# root= names a ZFS dataset (or zfs:AUTO).
check() {
	require_binaries /usr/sbin/keygate || return 1
	return 0
}

# zfs imports the pool (systemd initramfs) and mounts the root.
depends() {
	echo zfs
}

install() {
	inst_multiple /usr/sbin/keygate
	# The consoles (LOM lines), timeout and policy: the same file the real
	# root's gate reads. Optional.
	if [ -e /etc/keygate/keygate.toml ]; then
		inst_simple /etc/keygate/keygate.toml
	fi
	# shellcheck disable=SC2154 # moddir, systemdsystemunitdir, initdir, SYSTEMCTL: dracut's
	if dracut_module_included systemd; then
		inst_simple "$moddir/keygate-initrd.service" \
			"$systemdsystemunitdir/keygate-initrd.service"
		$SYSTEMCTL -q --root "$initdir" add-wants initrd.target keygate-initrd.service
	else
		# Before zfs's mount hook (mount 98), which then finds the pool
		# imported and the key loaded.
		inst_hook pre-mount 95 "$moddir/keygate-pre-mount.sh"
		# zfs's key hook (pre-mount 90) is for a systemd initramfs only:
		# it returns at once when there is no systemctl, and otherwise
		# waits for zfs-import.target. A shell initramfs built on a
		# systemd machine has systemctl all the same (poweroff, reboot
		# and halt are links to it), so that hook would wait forever,
		# before keygate's. The key is keygate's here, with zfs's mount
		# hook as the fallback that asks.
		rm -f "$initdir/lib/dracut/hooks/pre-mount/90-zfs-load-key.sh"
	fi
}
