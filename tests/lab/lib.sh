# shellcheck shell=bash disable=SC2034
# Shared names and helpers for tests/lab/setup.sh and teardown.sh (sourced, not run).

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_URI=qemu:///system
LAB_STATE=/var/lib/libvirt-exporter-lab        # boot files, pool, serial logs
LAB_CACHE=/var/cache/libvirt-exporter-lab      # downloaded .debs
LAB_RUN=/run/libvirt-exporter-lab              # env file for the tests
LAB_POOL=lab-pool
LAB_POOL_PATH=$LAB_STATE/pool
LAB_NETWORK=lab-net
LAB_BRIDGE=virbr-lab
LAB_SERIAL_DIR=$LAB_STATE/serial
LAB_RUNNING="lab-run-1 lab-run-2"
LAB_PAUSED=lab-paused
LAB_OFF=lab-off
LAB_AGENT=lab-agent                            # running, with qemu-ga inside
LAB_DOMAINS="$LAB_RUNNING $LAB_PAUSED $LAB_OFF $LAB_AGENT"
LIBVIRTD_LOG=/var/log/libvirt/libvirtd.log

T0=${T0:-$SECONDS}
log() { printf '[lab %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
virsh() { command virsh -q -c "$LAB_URI" "$@"; }

libvirt_up() { command virsh -q -c "$LAB_URI" version >/dev/null 2>&1; }

# Start virtlogd and libvirtd (no systemd here) unless already running.
start_daemons() {
    if [ -e /dev/kvm ] && getent group kvm >/dev/null; then
        chgrp kvm /dev/kvm && chmod 0660 /dev/kvm   # without udev; avoids QEMU re-probing
    fi
    pgrep -x virtlogd >/dev/null || { log "starting virtlogd"; virtlogd -d; }
    if ! pgrep -x libvirtd >/dev/null; then
        log "starting libvirtd (log: $LIBVIRTD_LOG)"
        mkdir -p "$(dirname "$LIBVIRTD_LOG")"
        LIBVIRT_LOG_OUTPUTS="3:file:$LIBVIRTD_LOG" libvirtd -d
    fi
    local i
    for i in $(seq 60); do libvirt_up && return 0; sleep 0.5; done
    echo "libvirtd does not answer on $LAB_URI" >&2
    tail -n 30 "$LIBVIRTD_LOG" >&2 2>/dev/null || true
    return 1
}

dom_exists() { virsh dominfo "$1" >/dev/null 2>&1; }
dom_state() { virsh domstate "$1" 2>/dev/null | head -n1 || true; }

# Stop and forget a domain (its volume is handled by the caller / pool).
dom_remove() {
    dom_exists "$1" || return 0
    [ "$(dom_state "$1")" = "shut off" ] || virsh destroy "$1" >/dev/null 2>&1 || true
    virsh undefine "$1" >/dev/null
}
