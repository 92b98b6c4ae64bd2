#!/usr/bin/env bash
# Test helper (tests/chameleon/hostFirewall.test.ts): loads an nft ruleset into a throwaway
# network namespace standing for a node (192.168.60.10), connects to it over a veth pair from a
# second namespace holding the source addresses to probe, and prints which TCP connections were
# answered, as JSON: {"<source> <port>": true|false, ..., "outbound": true|false}. "outbound" is the
# node opening a connection to 203.0.113.9:9000, which needs the replies let back in. Needs root.
#
# Usage: firewall-netns.sh RULESET_FILE PROBES_JSON   (PROBES_JSON: [["129.114.1.5", 22], ...])
set -euo pipefail

ruleset=$1
probes=$2
readonly node_ip=192.168.60.10 outside_ip=203.0.113.9
node=ssept-fw-node-$$
client=ssept-fw-client-$$
cleanup() {
  ip netns del "$node" 2>/dev/null || true
  ip netns del "$client" 2>/dev/null || true
}
trap cleanup EXIT

column() {
  python3 -c 'import json, sys; print(" ".join(sorted({str(p[int(sys.argv[2])]) for p in json.load(open(sys.argv[1]))})))' "$probes" "$1"
}

ip netns add "$node"
ip netns add "$client"
ip link add veth-n netns "$node" type veth peer name veth-c netns "$client"
ip -n "$node" link set lo up
ip -n "$client" link set lo up
ip -n "$node" addr add "$node_ip/24" dev veth-n
ip -n "$node" link set veth-n up
ip -n "$node" route add default dev veth-n
ip -n "$client" link set veth-c up
for address in $(column 0) "$outside_ip"; do
  ip -n "$client" addr replace "$address/32" dev veth-c
done
ip -n "$client" route add "$node_ip/32" dev veth-c
ip netns exec "$node" nft -f "$ruleset"

# Listeners: on the node every probed port, on the outside the port the node connects to.
listen='
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    s.listen(16)
    sel.register(s, selectors.EVENT_READ)
open(sys.argv[1], "w").close()
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        conn.close()
'
ready=$(mktemp -d)
# shellcheck disable=SC2046 # one argument per port
ip netns exec "$node" python3 -c "$listen" "$ready/node" $(column 1) &
node_listener=$!
ip netns exec "$client" python3 -c "$listen" "$ready/client" 9000 &
client_listener=$!
for _ in $(seq 1 100); do
  [[ -e $ready/node && -e $ready/client ]] && break
  sleep 0.1
done
[[ -e $ready/node && -e $ready/client ]] || {
  echo "the listeners did not start" >&2
  exit 1
}
rm -rf "$ready"

connect='
import json, socket, sys
def answered(src, dst, port):
    s = socket.socket()
    s.settimeout(0.5)
    if src:
        s.bind((src, 0))
    try:
        s.connect((dst, port))
        return True
    except OSError:
        return False
    finally:
        s.close()
if sys.argv[1] == "in":
    print(json.dumps({f"{src} {port}": answered(src, sys.argv[3], port) for src, port in json.load(open(sys.argv[2]))}))
else:
    print(json.dumps(answered(None, sys.argv[2], 9000)))
'
inbound=$(ip netns exec "$client" python3 -c "$connect" in "$probes" "$node_ip")
outbound=$(ip netns exec "$node" python3 -c "$connect" out "$outside_ip")
kill "$node_listener" "$client_listener"
python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r["outbound"] = json.loads(sys.argv[2]); print(json.dumps(r))' "$inbound" "$outbound"
