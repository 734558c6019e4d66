#!/usr/bin/env bash
# Sizes the benchmark's guests: small transient KVM guests named bench-NNN (1 vCPU, 16 MiB), each
# with a virtio NIC on the lab network, a virtio balloon and one read-only virtio disk, shared by
# all of them, whose boot sector halts the vCPU for good: SeaBIOS boots it and the guest then uses
# no CPU (with no bootable disk the firmware keeps waking, about 0.5 % of a core per guest).
# Never touches any other domain. Run as root, after tests/lab/setup.sh.
# Lesson of an earlier trial: an empty, unbootable disk keeps the firmware far busier instead.
#
#   bench/guests.sh set N    make exactly bench-001..bench-N run (N=0: none), wait until idle
#   bench/guests.sh clean    destroy every bench-NNN guest
# BENCH_PREFIX replaces "bench" in the names (the smoke test uses its own).
set -Eeuo pipefail
URI=qemu:///system
PREFIX=${BENCH_PREFIX:-bench}
[[ "$PREFIX" =~ ^[a-z][a-z0-9]*$ ]] || { echo "guests.sh: BENCH_PREFIX must be lowercase letters and digits" >&2; exit 2; }
NETWORK=lab-net
DISK_DIR=/var/lib/libvirt-exporter-bench
DISK=$DISK_DIR/halt.img
SETTLE_TIMEOUT=${BENCH_SETTLE_TIMEOUT:-180}
virsh() { command virsh -q -c "$URI" "$@"; }
log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# The guests' shared boot disk: 1 MiB raw, a boot sector of cli; hlt; jmp back (FA F4 EB FD) and
# the boot signature 55 AA at offset 510. Root's file, readable by all: the guests read it as the
# QEMU user, and the disk's <seclabel relabel='no'/> keeps libvirt from chowning it.
make_disk() {
    local tmp
    install -d -m 0755 "$DISK_DIR"
    tmp=$(mktemp "$DISK_DIR/.halt.XXXXXX")
    printf '\xfa\xf4\xeb\xfd' > "$tmp"
    truncate -s 510 "$tmp"
    printf '\x55\xaa' >> "$tmp"
    truncate -s 1M "$tmp"
    chmod 0644 "$tmp"
    if cmp -s "$tmp" "$DISK"; then rm -f "$tmp"; else mv -f "$tmp" "$DISK"; fi
}

running_bench() { virsh list --name | grep -E "^$PREFIX-[0-9]{3}\$" || true; }

guest_xml() {  # name
    cat <<XML
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><bios rebootTimeout='-1'/></os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$DISK'><seclabel model='dac' relabel='no'/></source>
      <target dev='vda' bus='virtio'/>
      <readonly/>
      <boot order='1'/>
    </disk>
    <interface type='network'>
      <source network='$NETWORK'/>
      <model type='virtio'/>
      <rom bar='off'/>
    </interface>
    <controller type='usb' model='none'/>
    <memballoon model='virtio'><stats period='10'/></memballoon>
  </devices>
</domain>
XML
}

# "<name> <CPU ticks>" of every bench guest's QEMU process
guest_ticks() {
    local f
    for f in /run/libvirt/qemu/"$PREFIX"-[0-9][0-9][0-9].pid; do
        [ -e "$f" ] || continue
        echo "$(basename "$f" .pid) $(awk '{print $14 + $15}' "/proc/$(cat "$f")/stat" 2>/dev/null || echo 0)"
    done
}

# Waits until the guests are past their firmware's start (each burns about a second of CPU
# booting, then halts): until 95 % of them use at most 3 % of a core.
settle() {  # n
    local n=$1 deadline=$((SECONDS + SETTLE_TIMEOUT)) a b idle
    while :; do
        a=$(guest_ticks); sleep 2; b=$(guest_ticks)
        idle=$(join <(sort <<<"$a") <(sort <<<"$b") | awk '$3 - $2 <= 6' | wc -l)
        if [ $((idle * 100)) -ge $((n * 95)) ]; then
            log "guests: $n running, $idle idle"; return 0
        fi
        if [ $SECONDS -ge $deadline ]; then
            log "guests: only $idle of $n idle after ${SETTLE_TIMEOUT}s; going on"; return 0
        fi
    done
}

set_count() {  # n
    local n=$1 i name have
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -le 999 ] || { echo "guests.sh: set wants 0..999, not '$n'" >&2; exit 2; }
    have=$(running_bench)
    for name in $have; do
        [ "$((10#${name#"$PREFIX"-}))" -le "$n" ] || virsh destroy "$name" >/dev/null 2>&1 || true
    done
    [ "$n" -gt 0 ] || { log "guests: none"; return 0; }
    [ -c /dev/kvm ] || { echo "guests.sh: no /dev/kvm: the bench guests need KVM" >&2; exit 1; }
    getent group kvm >/dev/null && chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
    virsh net-info "$NETWORK" 2>/dev/null | grep -c '^Active: *yes' >/dev/null ||
        { echo "guests.sh: network $NETWORK is not active: run tests/lab/setup.sh" >&2; exit 1; }
    make_disk
    local started=0 t0=$SECONDS
    for i in $(seq 1 "$n"); do
        name=$(printf '%s-%03d' "$PREFIX" "$i")
        grep -cx "$name" <<<"$have" >/dev/null && continue
        # a leftover persistent definition of the same name would clash
        virsh dominfo "$name" >/dev/null 2>&1 && { virsh destroy "$name" >/dev/null 2>&1 || true; virsh undefine "$name" >/dev/null 2>&1 || true; }
        guest_xml "$name" | virsh create /dev/stdin >/dev/null
        started=$((started + 1))
    done
    log "guests: started $started in $((SECONDS - t0))s; $(running_bench | wc -l) running"
    settle "$n"
}

clean() {
    local name
    for name in $(virsh list --all --name | grep -E "^$PREFIX-[0-9]{3}\$" || true); do
        virsh destroy "$name" >/dev/null 2>&1 || true
        virsh undefine "$name" >/dev/null 2>&1 || true
    done
}

[ "$(id -u)" = 0 ] || { echo "guests.sh: run as root" >&2; exit 1; }
case "${1:-}" in
    set) set_count "${2:-}" ;;
    clean) clean ;;
    *) echo "usage: bench/guests.sh set N | clean" >&2; exit 2 ;;
esac
