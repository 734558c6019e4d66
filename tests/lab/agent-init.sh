#!/bin/sh
# /init of the lab guest lab-agent (busybox sh as PID 1, packed into its own initramfs by
# setup.sh together with Debian 12's qemu-ga and the libraries it needs).
# Loads the virtio, virtio-serial and ext4 modules, formats the second disk (/dev/vdb in the
# guest) and mounts it as ext4 on /mnt/data, starts qemu-ga on the virtio-serial port
# org.qemu.guest_agent.0, prints LAB-READY, then serves the lab's control port
# (org.libvirt-exporter.lab.control, one command a line, answered with "done CMD" or
# "failed CMD"):
#   agent-stop | agent-cont   SIGSTOP / SIGCONT qemu-ga (it keeps its port open but answers nothing)
#   agent-kill | agent-start  end qemu-ga (its port closes) / start it again
#   fill MIB                  write /mnt/data/fill of MIB MiB and sync (0 removes it)
#   ping                      nothing, to check the port works
# setup.sh reads the next line to know which modules to pack (in this order).
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk failover net_failover virtio_net virtio_balloon virtio_console crc16 mbcache jbd2 crc32c_generic ext4"

export PATH=/bin:/usr/sbin
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp /run /etc /mnt/data
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /var && ln -sfn /run /var/run

for m in $MODULES; do
    if [ -f "/modules/$m.ko" ]; then
        insmod "/modules/$m.ko" || echo "lab-init: insmod $m failed"
    else
        echo "lab-init: no $m.ko (built in?)"
    fi
done

hang() { echo "LAB-FAIL: $1"; while :; do sleep 3600; done; }   # PID 1 must not exit

i=0
until [ -b /dev/vda ] && [ -b /dev/vdb ] && [ -e /sys/class/net/eth0 ] &&
      [ "$(ls /sys/class/virtio-ports 2>/dev/null | wc -l)" -ge 2 ]; do
    i=$((i + 1))
    [ $i -le 100 ] || hang "no /dev/vda, /dev/vdb, eth0 or virtio-serial ports"
    sleep 0.1
done

# No udev: the /dev/virtio-ports/NAME links qemu-ga and the control loop open.
mkdir -p /dev/virtio-ports
for p in /sys/class/virtio-ports/*; do
    ln -sfn "../${p##*/}" "/dev/virtio-ports/$(cat "$p/name")"
done

hostname lab-agent
cat > /etc/os-release <<EOF
ID=lab
NAME="libvirt-exporter lab"
VERSION_ID=1
VERSION="1 (agent)"
PRETTY_NAME="libvirt-exporter lab 1"
EOF
ip link set lo up
ip link set eth0 up
# A documentation address (RFC 5737) on the isolated lab network, so the agent reports IPv4 too.
ip addr add 192.0.2.10/24 dev eth0

mke2fs -q -F /dev/vdb >/dev/null || hang "mke2fs /dev/vdb failed"
mount -t ext4 /dev/vdb /mnt/data || hang "mount /dev/vdb failed"

QGA=""
agent_start() {
    /usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 \
        -t /run -f /run/qemu-ga.pid 3>&- &
    QGA=$!
}
agent_start
echo "LAB-READY $(uname -r) qemu-ga:$QGA"

run() {  # one control command
    case "$1" in
        "agent-stop") kill -STOP "$QGA" ;;
        "agent-cont") kill -CONT "$QGA" ;;
        "agent-kill") kill -CONT "$QGA"; kill "$QGA" && wait "$QGA" ;;
        "agent-start") agent_start ;;
        "fill "*)
            mib=${1#fill }
            rm -f /mnt/data/fill
            [ "$mib" = 0 ] || dd if=/dev/zero of=/mnt/data/fill bs=1M count="$mib" 2>/dev/null
            sync ;;
        "ping") : ;;
        *) return 1 ;;
    esac
}

CONTROL=/dev/virtio-ports/org.libvirt-exporter.lab.control
while :; do
    # Reads end at once while no one is connected on the host side: look again in a second.
    # (A failed redirection of a compound command does not end the shell; one of exec would.)
    {
        while read -r cmd <&3; do
            if run "$cmd"; then echo "done $cmd" >&3; else echo "failed $cmd" >&3; fi
            echo "lab-control: $cmd"
        done
    } 3<>"$CONTROL"
    sleep 1
done
