#!/usr/bin/env bash
# The side-by-side benchmark of issue 7, in one command (Debian 12, as root):
#
#   bench/run.sh                       10 and 100 guests + a 1,000-domain test-driver node
#   bench/run.sh --sizes 10,50 --test-domains 500
#   bench/run.sh --smoke               2 guests + 10 test domains, a few seconds each, table only
#   bench/run.sh --baseline REV --only ours,baseline
#                                      this exporter against itself at git revision REV, alone
#
# Environment: BENCH_STATE_DIR (logs, configs, default /run/libvirt-exporter-bench),
# BENCH_EXPORTER and BENCH_DRIVER (use these binaries instead of building in release mode),
# BENCH_SKIP_SETUP=1 (the lab is known to be up: skip tests/lab/setup.sh).
#
# Builds the lab if needed (tests/lab/setup.sh), installs Debian's prometheus-libvirt-exporter
# and collectd, builds this exporter and the driver (bench/compare) in release mode, runs the
# driver, and removes every bench guest and exporter process at the end, even on failure.
# --baseline REV also builds this exporter at REV (`git archive` into a temporary directory,
# release mode, its own target dir target/bench-baseline, kept for the next run) and measures it
# as "libvirt-exporter (baseline)"; --only NAMES (driver) picks the exporters measured.
# Other options are passed to the driver (bench/compare/main.rs: --collections, --load-time, ...).
# See bench/README.md for what is measured and how.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && PATH="$HOME/.cargo/bin:$PATH"
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (it starts guests and installs packages)" >&2; exit 1; }

STATE=${BENCH_STATE_DIR:-/run/libvirt-exporter-bench}
PEERS=(prometheus-libvirt-exporter collectd-core libprotobuf-c1 libmicrohttpd12)
EXPORTER=${BENCH_EXPORTER:-target/release/libvirt-exporter}
DRIVER=${BENCH_DRIVER:-target/release/examples/compare}
BASELINE_TARGET=$PWD/target/bench-baseline
command_line="bench/run.sh${*:+ $*}"
args=()
smoke=0
baseline=""
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --baseline)
            [ $# -ge 2 ] || { echo "bench/run.sh: --baseline needs a git revision" >&2; exit 2; }
            baseline=$2
            shift
            ;;
        --baseline=*) baseline=${1#--baseline=} ;;
        *) args+=("$1") ;;
    esac
    shift
done
if [ $smoke = 1 ]; then
    args=(--prefix benchsmoke --sizes 2 --test-domains 10 --interval 250ms --collections 3 --repeats 1
          --background 200ms --load-time 500ms --load-requests 500 --call-cycles 2 --call-interval 400ms
          --ready-timeout 30s --idle-window 1s --no-write "${args[@]}")
fi
# the guests' name prefix (the driver's --prefix, the last one given)
PREFIX=bench
for ((i = 0; i < ${#args[@]}; i++)); do
    [ "${args[$i]}" != --prefix ] || PREFIX=${args[$((i + 1))]:-bench}
done
export BENCH_PREFIX=$PREFIX

driver=""
baseline_src=""
cleanup() {
    local rc=$? pid comm
    trap - EXIT INT TERM
    if [ -n "$driver" ]; then   # the driver and what it runs (exporters, virsh, guests.sh)
        kill "$driver" $(ps -o pid= --ppid "$driver" 2>/dev/null || true) 2>/dev/null || true
        wait "$driver" 2>/dev/null || true
    fi
    if [ -s "$STATE/pids" ]; then
        while read -r pid comm; do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] && kill "$pid" 2>/dev/null || true
        done < "$STATE/pids"
        rm -f "$STATE/pids"
    fi
    bash bench/guests.sh clean || true
    [ -z "$baseline_src" ] || rm -rf "$baseline_src"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$STATE"
if [ -n "$baseline" ]; then   # before the lab and the builds: a typo fails at once
    commit=$(git rev-parse --verify --quiet "$baseline^{commit}") ||
        { echo "bench/run.sh: --baseline $baseline: not a revision of this repository (see git log)" >&2; exit 2; }
fi
[ -n "${BENCH_SKIP_SETUP:-}" ] || bash tests/lab/setup.sh

missing=()
for p in "${PEERS[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "[bench] installing ${missing[*]}"
    apt-get update -qq
    # no systemd here: keep the packages' init scripts from starting the daemons on their ports
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
    fi
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" \
        > "$STATE/apt.log" 2>&1 || rc=$?
    [ $own_policy = 0 ] || rm -f /usr/sbin/policy-rc.d
    [ $rc = 0 ] || { tail -n 20 "$STATE/apt.log" >&2; echo "bench/run.sh: apt-get install failed" >&2; exit 1; }
fi

if [ -z "${BENCH_EXPORTER:-}${BENCH_DRIVER:-}" ]; then
    cargo build --release --locked --bin libvirt-exporter --example compare
fi
if [ -n "$baseline" ]; then
    baseline_src=$(mktemp -d "${TMPDIR:-/tmp}/libvirt-exporter-baseline.XXXXXX")
    git archive "$commit" | tar -x -C "$baseline_src"
    echo "[bench] building the baseline $baseline (${commit:0:12}) in release mode"
    CARGO_TARGET_DIR=$BASELINE_TARGET cargo build --release --locked --bin libvirt-exporter \
        --manifest-path "$baseline_src/Cargo.toml"
    args+=(--baseline-exporter "$BASELINE_TARGET/release/libvirt-exporter"
           --baseline-label "$baseline (commit ${commit:0:12})")
fi
bash bench/guests.sh clean
# in the background, so that a signal to this script runs the cleanup at once
"$DRIVER" --exporter "$EXPORTER" --state-dir "$STATE" --guests bench/guests.sh \
    --command "$command_line" "${args[@]}" &
driver=$!
wait "$driver"
