#!/bin/sh
# Turn an emulated NVDIMM's label-less (raw) namespace into a device DAX
# instance with the given alignment, through libnvdimm's sysfs interface
# (what "ndctl create-namespace -f -e namespace0.0 -m devdax -a 1G" does).
#
#   dax-setup [NAMESPACE [ALIGN_BYTES]]      (default: namespace0.0, 1 GiB)
set -e
nd=/sys/bus/nd/devices
ns=${1:-namespace0.0}
align=${2:-1073741824}
[ -d "$nd/$ns" ] || { echo "# no $ns: is there an NVDIMM?"; ls $nd; exit 1; }
region=$(basename "$(readlink -f "$nd/$ns/..")")
if [ -e "$nd/$ns/driver" ]; then
	echo "$ns" >"$nd/$ns/driver/unbind"
fi
dax=$(cat "$nd/$region/dax_seed")
echo "# $ns in $region -> $dax, align $align"
cat /proc/sys/kernel/random/uuid >"$nd/$dax/uuid"
echo pmem >"$nd/$dax/mode"
echo "$align" >"$nd/$dax/align"
echo "$ns" >"$nd/$dax/namespace"
echo "$dax" >/sys/bus/nd/drivers/dax_pmem/bind
# The device DAX instance of region N is daxN.0.
want=dax${region#region}.0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	d=/sys/bus/dax/devices/$want
	if [ -e "$d" ]; then
		echo "# $want: size $(cat "$d/size"), align $(cat "$d/align")"
		if [ -c "/dev/$want" ]; then
			[ "$(cat "$d/align")" = "$align" ] && exit 0
			echo "# $want has align $(cat "$d/align"), not $align"
			exit 1
		fi
	fi
	sleep 1
done
echo "# no /dev/$want appeared"
ls /sys/bus/dax/devices/
exit 1
