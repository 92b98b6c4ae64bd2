#!/usr/bin/env bash
# Lets sshd accept the SSEPT_* variables the other scripts read. remote.Command passes its
# `environment` as SSH "env" requests, which OpenSSH drops unless AcceptEnv names them (Ubuntu
# accepts only LANG and LC_*), so every other script runs after this one. Secrets such as the join
# token travel this way, never on a command line.
# Idempotent: the drop-in is written, and sshd reloaded, only when its content differs.
set -euo pipefail

readonly drop_in=/etc/ssh/sshd_config.d/60-ssept-accept-env.conf
readonly wanted='AcceptEnv SSEPT_*'

if [[ -f $drop_in ]] && [[ "$(<"$drop_in")" == "$wanted" ]]; then
  echo "sshd already accepts SSEPT_* variables"
  exit 0
fi

install -d -m 0755 "$(dirname "$drop_in")"
tmp=$(mktemp "$drop_in.XXXXXX")
printf '%s\n' "$wanted" >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$drop_in"

# A broken sshd config would lock us out at the next restart: validate before reloading.
if ! sshd -t; then
  rm -f "$drop_in"
  echo "sshd rejected $drop_in; removed it" >&2
  exit 1
fi
systemctl reload ssh.service
echo "sshd now accepts SSEPT_* variables"
