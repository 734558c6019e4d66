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

build_boot() {
    mkdir -p "$LAB_CACHE" "$BOOT"
    local kpkg kdeb bdeb stamp
    kdeb=$(ls "$LAB_CACHE"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -n1 || true)
    if [ -z "$kdeb" ]; then
        kpkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n1)
        [ -n "$kpkg" ] || fail "no linux-image-6.1.0-*-amd64 package found by apt-cache search"
        kdeb=$(cached_deb "$kpkg" "$kpkg")
    fi
    bdeb=$(cached_deb busybox-static busybox-static)
    stamp=$(echo "$BUILD_REV"; basename "$kdeb"; basename "$bdeb"; cat "$LAB_DIR/guest-init.sh")
    stamp=$(echo "$stamp" | sha256sum | cut -c1-16)
    if [ -s "$BOOT/vmlinuz" ] && [ -s "$BOOT/initrd.img" ] && [ "$(cat "$BOOT/stamp" 2>/dev/null)" = "$stamp" ]; then
        BOOT_STAMP=$stamp; log "guest boot files: up to date ($(cat "$BOOT/kernel-version"))"; return 0
    fi
    log "guest boot files: unpacking $(basename "$kdeb") and $(basename "$bdeb")"
    local tmp kver m f notes=""
    tmp=$(mktemp -d); BUILD_TMP=$tmp
    dpkg-deb -x "$kdeb" "$tmp/k"; dpkg-deb -x "$bdeb" "$tmp/bb"
    kver=$(ls "$tmp/k/lib/modules" | head -n1)
    mkdir -p "$tmp/root/bin" "$tmp/root/modules" "$tmp/root/dev" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/tmp"
    cp "$tmp/bb/bin/busybox" "$tmp/root/bin/busybox"; ln -s busybox "$tmp/root/bin/sh"
    for a in ping6 dd insmod ip; do
        "$tmp/bb/bin/busybox" --list | grep -cx "$a" >/dev/null || fail "busybox-static lacks the $a applet"
    done
    install -m 755 "$LAB_DIR/guest-init.sh" "$tmp/root/init"
    for m in $(sed -n 's/^MODULES="\(.*\)"/\1/p' "$LAB_DIR/guest-init.sh"); do
        f=$(find "$tmp/k/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.[xgz]*" | head -n1)
        case "$f" in
            *.ko) cp "$f" "$tmp/root/modules/$m.ko" ;;
            *.xz) xz -dc "$f" > "$tmp/root/modules/$m.ko" ;;
            *.zst) zstd -qdc "$f" > "$tmp/root/modules/$m.ko" ;;
            *.gz) gzip -dc "$f" > "$tmp/root/modules/$m.ko" ;;
            *) if grep -q "/$m.ko\$" "$tmp/k/lib/modules/$kver/modules.builtin"; then notes="$notes $m(builtin)"
               else notes="$notes $m(MISSING)"; fi ;;
        esac
    done
    [ -z "$notes" ] || log "guest modules not packed:$notes"
    (cd "$tmp/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$BOOT/initrd.img.new"
    mv "$BOOT/initrd.img.new" "$BOOT/initrd.img"
    cp "$tmp/k/boot/vmlinuz-$kver" "$BOOT/vmlinuz"
    echo "$kver ($(basename "$kdeb"))" > "$BOOT/kernel-version"
    echo "$stamp" > "$BOOT/stamp"
    BOOT_STAMP=$stamp
    rm -rf "$tmp"
    log "guest boot files: kernel $kver, initrd $(du -k "$BOOT/initrd.img" | cut -f1) KiB"
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
render_domain() {  # name vcpus mac hash
    sed -e "s|@NAME@|$1|g" -e "s|@VCPUS@|$2|g" -e "s|@MAC@|$3|g" -e "s|@HASH@|$4|g" \
        -e "s|@KERNEL@|$BOOT/vmlinuz|g" -e "s|@INITRD@|$BOOT/initrd.img|g" \
        -e "s|@DISK@|$LAB_POOL_PATH/$1.qcow2|g" -e "s|@SERIAL@|$LAB_SERIAL_DIR/$1.log|g" \
        -e "s|@NETWORK@|$LAB_NETWORK|g" "$LAB_DIR/domain.xml.in"
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

ensure_domain() {  # name vcpus mac want(running|paused|off)
    local name=$1 want=$4 hash cur state new_vol=0
    hash=$(printf '%s\n' "$(render_domain "$1" "$2" "$3" x)" "$BOOT_STAMP" | sha256sum | cut -c1-16)
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
        render_domain "$1" "$2" "$3" "$hash" | virsh define /dev/stdin >/dev/null
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

write_env() {
    mkdir -p "$LAB_RUN"
    cat > "$LAB_RUN/env.new" <<EOF
LAB_URI=$LAB_URI
LAB_RUNNING="$LAB_RUNNING"
LAB_PAUSED=$LAB_PAUSED
LAB_OFF=$LAB_OFF
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
ensure_network
ensure_pool
ensure_domain lab-run-1  2 52:54:00:1a:b0:01 running
ensure_domain lab-run-2  1 52:54:00:1a:b0:02 running
ensure_domain lab-paused 1 52:54:00:1a:b0:03 paused
ensure_domain lab-off    1 52:54:00:1a:b0:04 off
wait_ready
write_env

echo "== lab ready in $((SECONDS - T0))s: $(libvirtd --version | awk '{print "libvirt", $NF}'), $(qemu-system-x86_64 --version | head -n1 | awk '{print "qemu", $4}'), guest kernel $(cut -d' ' -f1 "$BOOT/kernel-version")"
for d in $LAB_DOMAINS; do
    printf '   %-11s %-9s vcpus=%s tap=%s\n' "$d" "$(dom_state "$d")" \
        "$(virsh dominfo "$d" | awk '/^CPU\(s\)/ {print $2}')" "$(tap_of "$d" || true)"
done
echo "   network $LAB_NETWORK (bridge $LAB_BRIDGE), pool $LAB_POOL ($LAB_POOL_PATH), env: $LAB_RUN/env"
