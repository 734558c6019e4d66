#!/usr/bin/env bash
# Build (or repair) the libvirt test lab on a Debian 12 machine. Run as root.
# Idempotent: a re-run on a set-up machine only checks and exits quickly.
# See tests/lab/README.md.
set -Eeuo pipefail
T0=$SECONDS
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root" >&2; exit 1; }

# qemu-utils is added with an explicit version below
PKGS=(libvirt-daemon-system libvirt-clients qemu-system-x86 prometheus libvirt-dev pkg-config
      cpio xz-utils iproute2)
READY_TIMEOUT=${LAB_READY_TIMEOUT:-120}
BOOT=$LAB_STATE/boot
BUILD_REV=1          # bump when the initramfs layout built below changes
AGENT_BOOT=$LAB_STATE/boot-agent
AGENT_BUILD_REV=1    # the same for lab-agent's initramfs
BUILD_TMP=""
NET_CHANGED=0
STARTED=""

diagnose() {  # [domains]: their serial console / qemu log tails, then libvirtd's log tail
    local d
    for d in ${1:-}; do
        echo "--- $d: state '$(dom_state "$d")', serial console $LAB_SERIAL_DIR/$d.log (tail) ---"
        tail -n 12 "$LAB_SERIAL_DIR/$d.log" 2>/dev/null || true
        echo "--- $d: /var/log/libvirt/qemu/$d.log (tail, without the command line) ---"
        grep -vE '^(-|[A-Z_]+=|/usr/bin/qemu)' "/var/log/libvirt/qemu/$d.log" 2>/dev/null | tail -n 6 || true
    done
    echo "--- $LIBVIRTD_LOG (tail) ---"; tail -n 10 "$LIBVIRTD_LOG" 2>/dev/null || true
}
fail() { echo "LAB SETUP FAILED: $1" >&2; diagnose "${2:-}" >&2 || true; exit 1; }
on_err() {  # ERR trap: report once, from the main shell (subshells just pass the status up)
    local rc=$? line=$1 cmd=$2
    [ "$BASHPID" = "$$" ] || exit $rc
    echo "LAB SETUP FAILED: line $line: $cmd (exit $rc)" >&2; diagnose >&2 || true; exit $rc
}
trap 'on_err $LINENO "$BASH_COMMAND"' ERR
trap '[ -z "$BUILD_TMP" ] || rm -rf "$BUILD_TMP"' EXIT

# ---------------------------------------------------------------- packages
pkg_ok() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
pkg_ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

install_packages() {
    local missing="" p
    for p in "${PKGS[@]}" qemu-utils; do pkg_ok "$p" || missing="$missing $p"; done
    # the image may carry qemu-utils from backports, which clashes with bookworm's qemu
    if [ -z "$missing" ] && [ "$(pkg_ver qemu-utils)" = "$(pkg_ver qemu-system-x86)" ]; then
        log "packages: already installed"; return 0
    fi
    log "packages: apt-get update"
    apt-get update -qq
    local qv
    qv=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
    apt-cache madison qemu-utils | awk -F' *[|] *' '{print $2}' | grep -cxF "$qv" >/dev/null ||
        qv=$(apt-cache madison qemu-utils | awk -F' *[|] *' '$2 !~ /bpo/ {print $2; exit}')
    [ -n "$qv" ] || fail "no Debian qemu-utils version found"
    log "packages: installing (qemu-utils=$qv)"
    # no systemd here: keep postinst scripts from starting services
    local own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --allow-downgrades \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${PKGS[@]}" "qemu-utils=$qv" > "$LAB_RUN/apt.log" 2>&1 || rc=$?
    [ $own_policy = 0 ] || rm -f /usr/sbin/policy-rc.d
    if [ $rc != 0 ]; then tail -n 25 "$LAB_RUN/apt.log" >&2; fail "apt-get install (full log: $LAB_RUN/apt.log)"; fi
}

# ---------------------------------------------------------------- guest kernel + initramfs
cached_deb() {  # newest cached .deb for a name pattern, downloading $2 if none
    local f
    f=$(ls "$LAB_CACHE"/"$1"_*.deb 2>/dev/null | sort -V | tail -n1 || true)
    if [ -z "$f" ]; then
        log "downloading $2" >&2
        (cd "$LAB_CACHE" && apt-get download -q -o APT::Sandbox::User=root "$2" >/dev/null) ||
            { apt-get update -qq && (cd "$LAB_CACHE" && apt-get download -q -o APT::Sandbox::User=root "$2" >/dev/null); }
        f=$(ls "$LAB_CACHE"/"$1"_*.deb | sort -V | tail -n1)
    fi
    echo "$f"
}

guest_debs() {  # sets KDEB (newest cached linux-image-6.1.0-*-amd64) and BDEB (busybox-static)
    local kpkg
    KDEB=$(ls "$LAB_CACHE"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -n1 || true)
    if [ -z "$KDEB" ]; then
        kpkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n1)
        [ -n "$kpkg" ] || fail "no linux-image-6.1.0-*-amd64 package found by apt-cache search"
        KDEB=$(cached_deb "$kpkg" "$kpkg")
    fi
    BDEB=$(cached_deb busybox-static busybox-static)
}

pack_root() {  # tmp init: unpacks $KDEB and $BDEB into tmp, fills tmp/root with busybox, the
               # init script as /init and the modules its MODULES= line names; sets KVER
    local tmp=$1 init=$2 m f notes=""
    dpkg-deb -x "$KDEB" "$tmp/k"; dpkg-deb -x "$BDEB" "$tmp/bb"
    KVER=$(ls "$tmp/k/lib/modules" | head -n1)
    mkdir -p "$tmp/root/bin" "$tmp/root/modules" "$tmp/root/dev" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/tmp"
    cp "$tmp/bb/bin/busybox" "$tmp/root/bin/busybox"; ln -s busybox "$tmp/root/bin/sh"
    for a in ping6 dd insmod ip; do
        "$tmp/bb/bin/busybox" --list | grep -cx "$a" >/dev/null || fail "busybox-static lacks the $a applet"
    done
    install -m 755 "$init" "$tmp/root/init"
    for m in $(sed -n 's/^MODULES="\(.*\)"/\1/p' "$init"); do
        f=$(find "$tmp/k/lib/modules/$KVER" -name "$m.ko" -o -name "$m.ko.[xgz]*" | head -n1)
        case "$f" in
            *.ko) cp "$f" "$tmp/root/modules/$m.ko" ;;
            *.xz) xz -dc "$f" > "$tmp/root/modules/$m.ko" ;;
            *.zst) zstd -qdc "$f" > "$tmp/root/modules/$m.ko" ;;
            *.gz) gzip -dc "$f" > "$tmp/root/modules/$m.ko" ;;
            *) if grep -q "/$m.ko\$" "$tmp/k/lib/modules/$KVER/modules.builtin"; then notes="$notes $m(builtin)"
               else notes="$notes $m(MISSING)"; fi ;;
        esac
    done
    [ -z "$notes" ] || log "guest modules not packed ($(basename "$init")):$notes"
}

write_initrd() {  # root out
    (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) > "$2.new"
    mv "$2.new" "$2"
}

build_boot() {
    mkdir -p "$LAB_CACHE" "$BOOT"
    local stamp tmp
    guest_debs
    stamp=$(echo "$BUILD_REV"; basename "$KDEB"; basename "$BDEB"; cat "$LAB_DIR/guest-init.sh")
    stamp=$(echo "$stamp" | sha256sum | cut -c1-16)
    if [ -s "$BOOT/vmlinuz" ] && [ -s "$BOOT/initrd.img" ] && [ "$(cat "$BOOT/stamp" 2>/dev/null)" = "$stamp" ]; then
        BOOT_STAMP=$stamp; log "guest boot files: up to date ($(cat "$BOOT/kernel-version"))"; return 0
    fi
    log "guest boot files: unpacking $(basename "$KDEB") and $(basename "$BDEB")"
    tmp=$(mktemp -d); BUILD_TMP=$tmp
    pack_root "$tmp" "$LAB_DIR/guest-init.sh"
    write_initrd "$tmp/root" "$BOOT/initrd.img"
    cp "$tmp/k/boot/vmlinuz-$KVER" "$BOOT/vmlinuz"
    echo "$KVER ($(basename "$KDEB"))" > "$BOOT/kernel-version"
    echo "$stamp" > "$BOOT/stamp"
    BOOT_STAMP=$stamp
    rm -rf "$tmp"
    log "guest boot files: kernel $KVER, initrd $(du -k "$BOOT/initrd.img" | cut -f1) KiB"
}

# lab-agent's initramfs: the same kernel modules and busybox with agent-init.sh as /init,
# plus Debian 12's qemu-ga and every library ldd lists for it (the host is Debian 12 too).
build_agent_boot() {
    mkdir -p "$AGENT_BOOT"
    local qdeb stamp tmp lib libs
    guest_debs
    qdeb=$(cached_deb qemu-guest-agent qemu-guest-agent)
    stamp=$(echo "$AGENT_BUILD_REV"; basename "$KDEB"; basename "$BDEB"; basename "$qdeb"
            cat "$LAB_DIR/agent-init.sh")
    stamp=$(echo "$stamp" | sha256sum | cut -c1-16)
    if [ -s "$AGENT_BOOT/initrd.img" ] && [ "$(cat "$AGENT_BOOT/stamp" 2>/dev/null)" = "$stamp" ]; then
        AGENT_STAMP=$stamp; log "lab-agent boot files: up to date"; return 0
    fi
    log "lab-agent boot files: adding $(basename "$qdeb")"
    tmp=$(mktemp -d); BUILD_TMP=$tmp
    pack_root "$tmp" "$LAB_DIR/agent-init.sh"
    dpkg-deb -x "$qdeb" "$tmp/qga"
    mkdir -p "$tmp/root/usr/sbin"
    cp "$tmp/qga/usr/sbin/qemu-ga" "$tmp/root/usr/sbin/qemu-ga"
    ! ldd "$tmp/qga/usr/sbin/qemu-ga" | grep 'not found' || fail "qemu-ga needs libraries this host lacks"
    libs=$(ldd "$tmp/qga/usr/sbin/qemu-ga" | grep -o '/[^ ]*')
    for lib in $libs; do
        mkdir -p "$tmp/root$(dirname "$lib")"
        cp -L "$lib" "$tmp/root$lib"
    done
    write_initrd "$tmp/root" "$AGENT_BOOT/initrd.img"
    echo "$stamp" > "$AGENT_BOOT/stamp"
    AGENT_STAMP=$stamp
    rm -rf "$tmp"
    log "lab-agent boot files: initrd $(du -k "$AGENT_BOOT/initrd.img" | cut -f1) KiB ($(echo "$libs" | wc -l) libraries)"
}

# ---------------------------------------------------------------- network + pool
ensure_network() {
    local xml
    xml=$(virsh net-dumpxml --inactive "$LAB_NETWORK" 2>/dev/null || true)
    if [ -n "$xml" ] && ! { grep -q "name='$LAB_BRIDGE'" <<<"$xml" && grep -q "ipv6='yes'" <<<"$xml" &&
                             ! grep -q '<ip' <<<"$xml"; }; then
        log "network $LAB_NETWORK: wrong definition, re-creating"
        virsh net-destroy "$LAB_NETWORK" >/dev/null 2>&1 || true
        virsh net-undefine "$LAB_NETWORK" >/dev/null; xml=""
    fi
    if [ -z "$xml" ]; then
        log "network $LAB_NETWORK: defining"
        # no <forward>: isolated; no <ip>: no dnsmasq; ipv6='yes': libvirt leaves IPv6
        # (link-local) enabled on the bridge so the guests' ff02::1 pings are answered
        virsh net-define /dev/stdin >/dev/null <<EOF
<network ipv6='yes'>
  <name>$LAB_NETWORK</name>
  <bridge name='$LAB_BRIDGE' stp='off' delay='0'/>
</network>
EOF
    fi
    if ! virsh net-info "$LAB_NETWORK" | grep -c '^Active: *yes' >/dev/null; then
        log "network $LAB_NETWORK: starting"; virsh net-start "$LAB_NETWORK" >/dev/null; NET_CHANGED=1
    fi
    virsh net-info "$LAB_NETWORK" | grep -c '^Autostart: *yes' >/dev/null || virsh net-autostart "$LAB_NETWORK" >/dev/null
    ip link set "$LAB_BRIDGE" up
    # libvirt sets disable_ipv6=1 on a bridge without an IPv6 <ip>; re-enable it so the
    # host's link-local address on the bridge answers the guests' pings too
    local v6=/proc/sys/net/ipv6/conf/$LAB_BRIDGE/disable_ipv6
    if [ "$(cat "$v6")" != 0 ]; then echo 0 > "$v6"; log "network $LAB_NETWORK: enabled IPv6 (link-local) on $LAB_BRIDGE"; fi
    log "network $LAB_NETWORK: active, bridge $LAB_BRIDGE up"
}

ensure_pool() {
    local xml
    xml=$(virsh pool-dumpxml --inactive "$LAB_POOL" 2>/dev/null || true)
    if [ -n "$xml" ] && ! grep -q "<path>$LAB_POOL_PATH</path>" <<<"$xml"; then
        log "pool $LAB_POOL: wrong path, re-creating"
        virsh pool-destroy "$LAB_POOL" >/dev/null 2>&1 || true
        virsh pool-undefine "$LAB_POOL" >/dev/null; xml=""
    fi
    if [ -z "$xml" ]; then
        log "pool $LAB_POOL: defining at $LAB_POOL_PATH"
        virsh pool-define-as "$LAB_POOL" dir --target "$LAB_POOL_PATH" >/dev/null
    fi
    if ! virsh pool-info "$LAB_POOL" | grep -c '^State: *running' >/dev/null; then
        log "pool $LAB_POOL: starting"
        virsh pool-build "$LAB_POOL" >/dev/null; virsh pool-start "$LAB_POOL" >/dev/null
    fi
    virsh pool-info "$LAB_POOL" | grep -c '^Autostart: *yes' >/dev/null || virsh pool-autostart "$LAB_POOL" >/dev/null
    virsh pool-refresh "$LAB_POOL" >/dev/null
}

# ---------------------------------------------------------------- domains
render_domain() {  # name vcpus mac hash [initrd extra-devices-file]
    local initrd=${5:-$BOOT/initrd.img} extra=${6:-/dev/null}
    awk -v extra="$extra" '/<\/devices>/ { while ((getline l < extra) > 0) print l } { print }' \
        "$LAB_DIR/domain.xml.in" |
    sed -e "s|@NAME@|$1|g" -e "s|@VCPUS@|$2|g" -e "s|@MAC@|$3|g" -e "s|@HASH@|$4|g" \
        -e "s|@KERNEL@|$BOOT/vmlinuz|g" -e "s|@INITRD@|$initrd|g" \
        -e "s|@DISK@|$LAB_POOL_PATH/$1.qcow2|g" -e "s|@SERIAL@|$LAB_SERIAL_DIR/$1.log|g" \
        -e "s|@DATA_DISK@|$LAB_POOL_PATH/$1-data.qcow2|g" -e "s|@NETWORK@|$LAB_NETWORK|g"
}

tap_of() { virsh domiflist "$1" 2>/dev/null | awk 'NR==1 {print $1}' || true; }
tap_ok() { local t; t=$(tap_of "$1"); [ -n "$t" ] && [ -e "/sys/class/net/$LAB_BRIDGE/brif/$t" ]; }
ready() { grep -q LAB-READY "$LAB_SERIAL_DIR/$1.log" 2>/dev/null; }

start_dom() {
    [ "$(dom_state "$1")" = "shut off" ] || virsh destroy "$1" >/dev/null
    rm -f "$LAB_SERIAL_DIR/$1.log"
    log "domain $1: starting"
    virsh start "$1" >/dev/null || fail "virsh start $1" "$1"
    STARTED="$STARTED $1"
}

ensure_domain() {  # name vcpus mac want(running|paused|off) [initrd extra-devices-file stamp]
    local name=$1 want=$4 hash cur state new_vol=0
    hash=$(printf '%s\n' "$(render_domain "$1" "$2" "$3" x "${5:-}" "${6:-}")" "$BOOT_STAMP" ${7:+"$7"} |
           sha256sum | cut -c1-16)
    if dom_exists "$name"; then
        cur=$(virsh dumpxml "$name" | sed -n 's:.*<lab\:hash>\(.*\)</lab\:hash>.*:\1:p')
        if [ "$cur" != "$hash" ]; then
            log "domain $name: definition changed, re-creating"
            dom_remove "$name"; virsh vol-delete "$name.qcow2" --pool "$LAB_POOL" >/dev/null 2>&1 || true
        fi
    fi
    if ! virsh vol-info "$name.qcow2" --pool "$LAB_POOL" >/dev/null 2>&1; then
        virsh vol-create-as "$LAB_POOL" "$name.qcow2" 64M --format qcow2 >/dev/null; new_vol=1
    fi
    if ! dom_exists "$name"; then
        log "domain $name: defining"
        render_domain "$1" "$2" "$3" "$hash" "${5:-}" "${6:-}" | virsh define /dev/stdin >/dev/null
    fi
    state=$(dom_state "$name")
    case "$want" in
        off) [ "$state" = "shut off" ] || { log "domain $name: $state -> shut off"; virsh destroy "$name" >/dev/null; } ;;
        running|paused)
            if [ "$want/$state" = "paused/paused" ] && tap_ok "$name" && [ $NET_CHANGED$new_vol = 00 ]; then
                :
            elif [ "$state" = running ] && tap_ok "$name" && [ $NET_CHANGED$new_vol = 00 ] && ready "$name"; then
                :   # lab-paused that is running gets suspended once ready (below)
            else
                [ "$state" = "shut off" ] || log "domain $name: state '$state', restarting"
                start_dom "$name"
            fi ;;
    esac
}

wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) d pending
    # 1. LAB-READY on the serial console of every guest that should run
    while :; do
        pending=""
        for d in $LAB_RUNNING $LAB_PAUSED; do
            [ "$(dom_state "$d")" = paused ] && continue
            grep -q LAB-FAIL "$LAB_SERIAL_DIR/$d.log" 2>/dev/null && fail "$d reported LAB-FAIL" "$d"
            case "$(dom_state "$d")" in running) ;; *) fail "$d is $(dom_state "$d")" "$d" ;; esac
            ready "$d" || pending="$pending $d"
        done
        [ -n "$pending" ] || break
        [ $SECONDS -lt $deadline ] || fail "no LAB-READY within ${READY_TIMEOUT}s from:$pending" "$pending"
        sleep 0.5
    done
    [ -z "$STARTED" ] || log "guests ready (LAB-READY):$STARTED"
    if [ "$(dom_state "$LAB_PAUSED")" = running ]; then
        virsh suspend "$LAB_PAUSED" >/dev/null; log "domain $LAB_PAUSED: suspended"
    fi
    # 2. balloon stats, nonzero and growing disk/NIC counters
    local s1 s2 missing
    while :; do
        missing=""
        s1=$(counters)
        for d in $LAB_RUNNING; do
            virsh domstats --balloon "$d" | grep -c 'balloon.usable=' >/dev/null || missing="$missing $d:balloon.usable"
            virsh domstats --balloon "$d" | grep -c 'balloon.available=' >/dev/null || missing="$missing $d:balloon.available"
        done
        missing="$missing$(awk '$2 == 0 {printf " %s=0", $1}' <<<"$s1")"
        if [ -z "$missing" ]; then
            sleep 3; s2=$(counters)
            missing=$(join <(sort <<<"$s1") <(sort <<<"$s2") 2>/dev/null | awk '$2 >= $3 {printf " %s(not growing)", $1}')
            [ -n "$missing" ] || break
        fi
        [ $SECONDS -lt $deadline ] || fail "stats not ready within ${READY_TIMEOUT}s:$missing" "$LAB_RUNNING"
        sleep 1
    done
    log "stats OK: balloon.usable/available present; rx/tx/rd/wr bytes nonzero and growing"
}

# "<dom>:<counter> <value>" lines: domstats NIC/disk bytes and the host tap's sysfs bytes
counters() {
    local d t
    for d in $LAB_RUNNING; do
        virsh domstats --interface --block "$d" |
            awk -v d="$d" -F= '/net.0.(rx|tx).bytes=|block.0.(rd|wr).bytes=/ {gsub(/ /, "", $1); print d ":" $1, $2}'
        t=$(tap_of "$d")
        echo "$d:tap.rx_bytes $(cat "/sys/class/net/$t/statistics/rx_bytes" 2>/dev/null || echo 0)"
        echo "$d:tap.tx_bytes $(cat "/sys/class/net/$t/statistics/tx_bytes" 2>/dev/null || echo 0)"
    done
}

# ---------------------------------------------------------------- lab-agent
started() { case " $STARTED " in *" $1 "*) return 0 ;; esac; return 1; }
agent_answers() {
    virsh guestinfo "$LAB_AGENT" --filesystem 2>/dev/null | grep -q '^fs.0.mountpoint *: */mnt/data$'
}

ensure_agent_volume() {  # lab-agent's second disk, formatted by its init at every boot
    virsh vol-info "$LAB_AGENT-data.qcow2" --pool "$LAB_POOL" >/dev/null 2>&1 ||
        virsh vol-create-as "$LAB_POOL" "$LAB_AGENT-data.qcow2" 32M --format qcow2 >/dev/null
}

wait_agent() {  # LAB-READY from lab-agent and an answer from its qemu-ga
    local d=$LAB_AGENT deadline=$((SECONDS + READY_TIMEOUT))
    # already up, but its agent does not answer (a test stopped or killed it): boot it again
    if ! started "$d" && ready "$d" && ! agent_answers; then
        log "domain $d: its guest agent does not answer, restarting"; start_dom "$d"
    fi
    until ready "$d" && agent_answers; do
        grep -q LAB-FAIL "$LAB_SERIAL_DIR/$d.log" 2>/dev/null && fail "$d reported LAB-FAIL" "$d"
        [ "$(dom_state "$d")" = running ] || fail "$d is $(dom_state "$d")" "$d"
        [ $SECONDS -lt $deadline ] || fail "no answer from qemu-ga in $d within ${READY_TIMEOUT}s" "$d"
        sleep 1
    done
    log "domain $d: qemu-ga answers (virsh guestinfo shows /mnt/data)"
}

write_env() {
    mkdir -p "$LAB_RUN"
    cat > "$LAB_RUN/env.new" <<EOF
LAB_URI=$LAB_URI
LAB_RUNNING="$LAB_RUNNING"
LAB_PAUSED=$LAB_PAUSED
LAB_OFF=$LAB_OFF
LAB_AGENT=$LAB_AGENT
LAB_NETWORK=$LAB_NETWORK
LAB_BRIDGE=$LAB_BRIDGE
LAB_POOL=$LAB_POOL
LAB_POOL_PATH=$LAB_POOL_PATH
LAB_SERIAL_DIR=$LAB_SERIAL_DIR
EOF
    mv "$LAB_RUN/env.new" "$LAB_RUN/env"
}

# ---------------------------------------------------------------- main
mkdir -p "$LAB_RUN" "$LAB_STATE" "$LAB_CACHE" "$LAB_SERIAL_DIR"
install_packages
start_daemons
build_boot
build_agent_boot
ensure_network
ensure_pool
ensure_domain lab-run-1  2 52:54:00:1a:b0:01 running
ensure_domain lab-run-2  1 52:54:00:1a:b0:02 running
ensure_domain lab-paused 1 52:54:00:1a:b0:03 paused
ensure_domain lab-off    1 52:54:00:1a:b0:04 off
ensure_agent_volume
ensure_domain "$LAB_AGENT" 1 52:54:00:1a:b0:05 running \
    "$AGENT_BOOT/initrd.img" "$LAB_DIR/agent-devices.xml.in" "$AGENT_STAMP"
wait_ready
wait_agent
write_env

echo "== lab ready in $((SECONDS - T0))s: $(libvirtd --version | awk '{print "libvirt", $NF}'), $(qemu-system-x86_64 --version | head -n1 | awk '{print "qemu", $4}'), guest kernel $(cut -d' ' -f1 "$BOOT/kernel-version")"
for d in $LAB_DOMAINS; do
    printf '   %-11s %-9s vcpus=%s tap=%s\n' "$d" "$(dom_state "$d")" \
        "$(virsh dominfo "$d" | awk '/^CPU\(s\)/ {print $2}')" "$(tap_of "$d" || true)"
done
echo "   network $LAB_NETWORK (bridge $LAB_BRIDGE), pool $LAB_POOL ($LAB_POOL_PATH), env: $LAB_RUN/env"
