#!/usr/bin/env bash
# Remove the libvirt test lab: guests, their volumes, the pool, the network and the env file.
# Idempotent. Keeps the installed packages, the running daemons and the cached .debs /
# guest boot files (so the next setup.sh is quick). Run as root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "teardown.sh: run as root" >&2; exit 1; }
rm -f "$LAB_RUN/env"
if ! command -v libvirtd >/dev/null; then log "libvirt not installed: nothing to tear down"; exit 0; fi
libvirt_up || start_daemons

for d in $LAB_DOMAINS; do
    if dom_exists "$d"; then log "domain $d: removing"; dom_remove "$d"; fi
done
if virsh pool-info "$LAB_POOL" >/dev/null 2>&1; then
    log "pool $LAB_POOL: removing with its volumes"
    if ! virsh pool-info "$LAB_POOL" | grep -c '^State: *running' >/dev/null; then
        virsh pool-start "$LAB_POOL" >/dev/null 2>&1 || true
    fi
    for v in $(virsh vol-list "$LAB_POOL" 2>/dev/null | awk '{print $1}'); do
        virsh vol-delete "$v" --pool "$LAB_POOL" >/dev/null
    done
    virsh pool-destroy "$LAB_POOL" >/dev/null 2>&1 || true
    virsh pool-delete "$LAB_POOL" >/dev/null 2>&1 || true
    virsh pool-undefine "$LAB_POOL" >/dev/null
fi
rm -rf "$LAB_POOL_PATH" "$LAB_SERIAL_DIR"
if virsh net-info "$LAB_NETWORK" >/dev/null 2>&1; then
    log "network $LAB_NETWORK: removing"
    virsh net-destroy "$LAB_NETWORK" >/dev/null 2>&1 || true
    virsh net-undefine "$LAB_NETWORK" >/dev/null
fi
log "lab removed"
