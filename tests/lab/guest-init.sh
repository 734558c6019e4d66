#!/bin/sh
# /init of the lab guests (busybox sh as PID 1, packed into the initramfs by setup.sh).
# Loads the virtio drivers, brings eth0 up, prints LAB-READY, then loops forever
# producing disk I/O on /dev/vda and IPv6 link-local multicast traffic on eth0.
# setup.sh reads the next line to know which modules to pack (in this order).
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk failover net_failover virtio_net virtio_balloon"

export PATH=/bin
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

for m in $MODULES; do
    if [ -f "/modules/$m.ko" ]; then
        insmod "/modules/$m.ko" || echo "lab-init: insmod $m failed"
    else
        echo "lab-init: no $m.ko (built in?)"
    fi
done

i=0
while [ ! -b /dev/vda ] || [ ! -e /sys/class/net/eth0 ]; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        echo "LAB-FAIL: no /dev/vda or eth0"
        while :; do sleep 3600; done   # PID 1 must not exit
    fi
    sleep 0.1
done
ip link set lo up
ip link set eth0 up

# The first run tells which dd flags work; fall back to fsync + drop_caches.
if dd if=/dev/vda of=/dev/null bs=1M count=1 iflag=direct 2>/dev/null; then
    WFLAG=oflag=direct RFLAG=iflag=direct
else
    WFLAG=conv=fsync RFLAG=
fi
echo "LAB-READY $(uname -r) dd:$WFLAG"

n=0
while :; do
    dd if=/dev/zero of=/dev/vda bs=1M count=1 $WFLAG 2>/dev/null || echo "lab-init: write failed"
    [ -n "$RFLAG" ] || echo 1 > /proc/sys/vm/drop_caches
    dd if=/dev/vda of=/dev/null bs=1M count=1 $RFLAG 2>/dev/null || echo "lab-init: read failed"
    # all-nodes link-local multicast: stays on the isolated bridge, answered by
    # the other guest(s) and the host bridge
    ping6 -c 1 -W 1 -I eth0 ff02::1 >/dev/null 2>&1
    n=$((n + 1))
    [ $((n % 300)) -ne 0 ] || echo "LAB-ALIVE $n"
    sleep 1
done
