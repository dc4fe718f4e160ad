#!/bin/sh
# Turn the emulated NVDIMM's label-less (raw) namespace into a device DAX
# instance with 1 GiB alignment, through libnvdimm's sysfs interface (what
# "ndctl create-namespace -f -e namespace0.0 -m devdax -a 1G" does).
set -e
nd=/sys/bus/nd/devices
ns=${1:-namespace0.0}
[ -d "$nd/$ns" ] || { echo "# no $ns: is there an NVDIMM?"; ls $nd; exit 1; }
region=$(basename "$(readlink -f "$nd/$ns/..")")
if [ -e "$nd/$ns/driver" ]; then
	echo "$ns" >"$nd/$ns/driver/unbind"
fi
dax=$(cat "$nd/$region/dax_seed")
echo "# $ns in $region -> $dax"
cat /proc/sys/kernel/random/uuid >"$nd/$dax/uuid"
echo pmem >"$nd/$dax/mode"
echo 1073741824 >"$nd/$dax/align"
echo "$ns" >"$nd/$dax/namespace"
echo "$dax" >/sys/bus/nd/drivers/dax_pmem/bind
for _ in 1 2 3 4 5 6 7 8 9 10; do
	for d in /sys/bus/dax/devices/dax*; do
		[ -e "$d" ] || continue
		echo "# $(basename "$d"): size $(cat "$d/size"), align $(cat "$d/align")"
		[ -c "/dev/$(basename "$d")" ] && exit 0
	done
	sleep 1
done
echo "# no /dev/dax* appeared"
exit 1
