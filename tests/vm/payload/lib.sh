# shellcheck shell=bash
# keygate VM tier: helpers for scenario setup code (runs in the guest).

# mk_root NAME PASSPHRASE [PBKDF2ITERS]: a passphrase encryption root with a
# canary file in it. Without PBKDF2ITERS, ZFS's default (350000) is used.
mk_root() {
    local name=$1 pass=$2 iters=${3:-}
    local opts=(-o encryption=on -o keyformat=passphrase -o keylocation=prompt)
    [[ -z $iters ]] || opts+=(-o pbkdf2iters="$iters")
    printf '%s\n' "$pass" | zfs create "${opts[@]}" "$name"
    echo "canary of $name" >"/$name/canary"
}

# mk_dependent_unit NAME DATASET [EXTRA_UNIT_LINES]: a service ordered after
# local-fs.target that fails when the dataset's canary file is missing, and
# leaves a marker in /run when it ran.
mk_dependent_unit() {
    local name=$1 ds=$2 extra=${3:-}
    cat >"/etc/systemd/system/$name.service" <<UNIT
[Unit]
Description=keygate VM tier: a service that needs /$ds
After=local-fs.target zfs-mount.service
$extra

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo ran >/run/$name.ran; test -f /$ds/canary'

[Install]
WantedBy=multi-user.target
UNIT
    systemctl enable "$name.service"
}

# install_done: the end of an install boot under systemd: everything on
# disk, the token the harness waits for on the console, power off.
install_done() {
    sync
    echo "kgvm-install: KGVM-INSTALL-OK"
    echo "KGVM-INSTALL-OK" >/dev/ttyS0
    systemctl --no-block poweroff
}

# gate_dropin ARGS...: replace keygate.service's gate arguments (drop-in).
gate_dropin() {
    mkdir -p /etc/systemd/system/keygate.service.d
    {
        echo "[Service]"
        echo "ExecStart="
        echo "ExecStart=/usr/sbin/keygate --service-manager systemd gate $*"
    } >/etc/systemd/system/keygate.service.d/kgvm.conf
}

# ---- OpenRC guests (scenarios with INIT = "openrc")

# openrc_conf NAME=VALUE...: set keygate's settings in /etc/conf.d/keygate,
# as an administrator edits the shipped file (values without quotes).
openrc_conf() {
    local kv name value
    for kv in "$@"; do
        name=${kv%%=*} value=${kv#*=}
        grep -q "^$name=" /etc/conf.d/keygate || { echo "openrc_conf: no $name in /etc/conf.d/keygate" >&2; return 1; }
        sed -i "s|^$name=.*|$name=\"$value\"|" /etc/conf.d/keygate
    done
}
