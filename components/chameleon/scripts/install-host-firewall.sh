#!/usr/bin/env bash
# Installs the host firewall of a node at a bare-metal site, where Neutron does not enforce
# security groups: the nftables ruleset Pulumi generates from the site's security group rules
# (components/chameleon/hostFirewall.ts). It runs before k3s is installed, so no k3s port is ever
# open wider than the plan says. The ruleset is checked with `nft -c` before anything is written,
# kept in a file and loaded at every boot by a systemd unit of its own (before the network and
# k3s come up), and applied now. It replaces only its own table, so kube-proxy's and flannel's
# rules survive, and the SSH session running this script survives as an established connection.
# Idempotent: files are rewritten only when their content differs; loading the same ruleset
# again replaces the table with an identical one.
#
# Environment: SSEPT_NFT_RULESET. SSEPT_FIREWALL_DIR and SSEPT_SYSTEMD_DIR exist so that tests can
# run this script without root.
set -euo pipefail

: "${SSEPT_NFT_RULESET:?must hold the nft ruleset generated from the security group rules}"
readonly firewall_dir=${SSEPT_FIREWALL_DIR:-/etc/ssept}
readonly systemd_dir=${SSEPT_SYSTEMD_DIR:-/etc/systemd/system}
readonly ruleset=$firewall_dir/host-firewall.nft
readonly unit=ssept-host-firewall.service

if ! command -v nft >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends nftables
fi
nft_bin=$(command -v nft)

install -d -m 0755 "$firewall_dir"
tmp=$(mktemp "$ruleset.XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '%s\n' "$SSEPT_NFT_RULESET" >"$tmp"
if ! nft -c -f "$tmp"; then
  echo "nft rejected the generated ruleset; nothing was changed" >&2
  exit 1
fi
if [[ -f $ruleset ]] && cmp -s "$tmp" "$ruleset"; then
  echo "$ruleset is up to date"
else
  chmod 0644 "$tmp"
  mv "$tmp" "$ruleset"
  echo "wrote $ruleset"
fi

wanted=$(
  cat <<UNIT
[Unit]
Description=ssept host firewall: the site's security group rules (components/chameleon/hostFirewall.ts)
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target k3s.service k3s-agent.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$nft_bin -f $ruleset

[Install]
WantedBy=multi-user.target
UNIT
)
if [[ -f $systemd_dir/$unit ]] && [[ "$(<"$systemd_dir/$unit")" == "$wanted" ]]; then
  echo "$unit is up to date"
else
  install -d -m 0755 "$systemd_dir"
  printf '%s\n' "$wanted" >"$systemd_dir/$unit"
  systemctl daemon-reload
  echo "wrote $systemd_dir/$unit"
fi
systemctl enable "$unit"

nft -f "$ruleset"
table=$(awk '$1 == "table" && $2 == "inet" { print $3; exit }' "$ruleset")
if ! nft list table inet "$table" >/dev/null; then
  echo "table inet $table is not loaded after nft -f $ruleset" >&2
  exit 1
fi
echo "host firewall (table inet $table) is loaded and enabled at boot"
