#!/usr/bin/env bash
# Formats the Cinder data volume if it is blank and mounts it where k3s's local-path provisioner
# keeps persistent volumes, so Postgres, MLflow and Prometheus data outlive pods and nodes.
# Idempotent: mkfs only on a device with no signature at all, the fstab line is written only when
# missing or stale, and the mount happens only when nothing is mounted there yet.
#
# Environment: SSEPT_VOLUME_ID (required), SSEPT_MOUNT_POINT. The SSEPT_DISK_BY_ID_DIR, SSEPT_FSTAB
# and SSEPT_SYSTEMD_DIR overrides exist so that tests can run this script against a loop device.
set -euo pipefail

: "${SSEPT_VOLUME_ID:?must hold the Cinder volume id}"
readonly mount_point=${SSEPT_MOUNT_POINT:-/var/lib/rancher/k3s/storage}
readonly by_id_dir=${SSEPT_DISK_BY_ID_DIR:-/dev/disk/by-id}
readonly fstab=${SSEPT_FSTAB:-/etc/fstab}
readonly systemd_dir=${SSEPT_SYSTEMD_DIR:-/etc/systemd/system}
readonly wait_seconds=${SSEPT_DEVICE_WAIT_SECONDS:-300}
readonly fs_label=k3s-data

# Nova gives an attached volume its id, cut to 20 characters, as the disk serial: udev links it as
# virtio-<serial> (virtio-blk) or scsi-0QEMU_QEMU_HARDDISK_<id> (virtio-scsi). /dev/vdX names are
# attach-order dependent and never used.
readonly serial=${SSEPT_VOLUME_ID:0:20}

find_device() {
  local link
  for link in "$by_id_dir"/*"$serial"*; do
    [[ -e $link ]] || continue
    [[ $link == *-part* ]] && continue
    readlink -f "$link"
    return 0
  done
  return 1
}

device=""
for ((waited = 0; ; waited += 5)); do
  if device=$(find_device); then
    break
  fi
  if ((waited >= wait_seconds)); then
    echo "no disk with serial $serial under $by_id_dir after ${wait_seconds}s: is volume $SSEPT_VOLUME_ID attached?" >&2
    exit 1
  fi
  sleep 5
done
echo "data volume $SSEPT_VOLUME_ID is $device"

# blkid -p probes the device itself: exit 2 means no filesystem and no partition table.
set +e
fs_type=$(blkid -p -s TYPE -o value "$device")
probe=$?
set -e
case $probe in
  0)
    if [[ $fs_type != ext4 ]]; then
      echo "$device holds ${fs_type:-a partition table}, not ext4: refusing to format or mount it" >&2
      exit 1
    fi
    echo "$device already holds ext4; keeping its data"
    ;;
  2)
    echo "$device is blank: formatting ext4"
    mkfs.ext4 -q -L "$fs_label" "$device"
    ;;
  *)
    echo "blkid could not probe $device (exit $probe)" >&2
    exit 1
    ;;
esac

uuid=$(blkid -p -s UUID -o value "$device")
[[ -n $uuid ]] || {
  echo "$device has no filesystem UUID" >&2
  exit 1
}

# nofail keeps a missing volume from dropping boot into emergency mode; the k3s drop-in below keeps
# k3s from starting without it, so pods never write to the root disk in its place.
entry="UUID=$uuid $mount_point ext4 defaults,nofail 0 2"
[[ -e $fstab ]] || : >"$fstab"
if grep -qxF "$entry" "$fstab"; then
  echo "fstab already mounts $uuid at $mount_point"
else
  tmp=$(mktemp)
  awk -v mp="$mount_point" '$2 != mp' "$fstab" >"$tmp"
  printf '%s\n' "$entry" >>"$tmp"
  cat "$tmp" >"$fstab"
  rm -f "$tmp"
  echo "fstab: $entry"
fi

mkdir -p "$mount_point"
if findmnt --mountpoint "$mount_point" >/dev/null; then
  source_device=$(readlink -f "$(findmnt -n -o SOURCE --mountpoint "$mount_point")")
  if [[ $source_device != "$device" ]]; then
    echo "$mount_point is a mount of $source_device, not of the data volume $device" >&2
    exit 1
  fi
  echo "$mount_point is already mounted"
else
  if [[ -n "$(ls -A "$mount_point")" ]]; then
    echo "$mount_point is not empty: mounting over it would hide data written to the root disk" >&2
    exit 1
  fi
  # Mounting through the fstab entry proves the entry works now, not at the next reboot.
  mount --fstab "$fstab" "$mount_point"
  echo "mounted $device at $mount_point"
fi

readonly drop_in_dir=$systemd_dir/k3s.service.d
readonly drop_in=$drop_in_dir/10-ssept-data-volume.conf
wanted=$(printf '[Unit]\nRequiresMountsFor=%s\n' "$mount_point")
if [[ -f $drop_in ]] && [[ "$(<"$drop_in")" == "$wanted" ]]; then
  echo "k3s already requires $mount_point"
else
  mkdir -p "$drop_in_dir"
  printf '%s\n' "$wanted" >"$drop_in"
  if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
  fi
  echo "k3s now requires $mount_point"
fi
