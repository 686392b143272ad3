#!/usr/bin/env bash
# A multi-host test bed on one machine: network namespaces as hosts, joined by a bridge in a
# namespace of its own, addresses from 198.18.0.0/15 (the benchmarking range), an optional rate
# limit on every host's link. Needs root and iproute2; touches nothing outside the namespaces it
# makes, and `down` removes them all.
#
#   testbed.sh up PREFIX HOSTS [RATE]   hosts PREFIX-h0 .. PREFIX-h{HOSTS-1}, host i at 198.18.0.{i+1}/24,
#                                       switch PREFIX-sw; RATE (e.g. 1gbit) limits each host's egress (tc tbf)
#   testbed.sh down PREFIX              delete every namespace of the bed
#   testbed.sh addr I                   print host I's address
#   testbed.sh exec PREFIX I CMD...     run CMD on host I (ip netns exec)
#
# PREFIX: 1-8 letters or digits (interface names are limited to 15 characters).
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
check_prefix() { [[ "$1" =~ ^[A-Za-z0-9]{1,8}$ ]] || { echo "testbed: prefix '$1' must be 1-8 letters or digits" >&2; exit 2; }; }
addr() { echo "198.18.0.$(( $1 + 1 ))"; }

down() {
  local p=$1 ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${p}-(sw|h[0-9]+)$" || true); do ip netns del "$ns"; done
}

up() {
  local p=$1 n=$2 rate=${3:-}
  [[ "$n" =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 200 )) || { echo "testbed: HOSTS must be 1..200, got '$n'" >&2; exit 2; }
  if ip netns list | awk '{print $1}' | grep -qE "^${p}-(sw|h[0-9]+)$"; then echo "testbed: namespaces ${p}-* exist already (testbed.sh down $p)" >&2; exit 1; fi
  trap 'down "$p"' ERR
  ip netns add "$p-sw"
  ip -n "$p-sw" link set lo up
  ip -n "$p-sw" link add br0 type bridge
  ip -n "$p-sw" link set br0 up
  for ((i = 0; i < n; i++)); do
    local ns="$p-h$i"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Made in the root namespace under unique names, moved at once, renamed inside.
    ip link add "${p}a$i" type veth peer name "${p}b$i"
    ip link set "${p}a$i" netns "$ns"
    ip link set "${p}b$i" netns "$p-sw"
    ip -n "$ns" link set "${p}a$i" name eth0
    ip -n "$ns" addr add "$(addr "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$p-sw" link set "${p}b$i" master br0
    ip -n "$p-sw" link set "${p}b$i" up
    if [[ -n "$rate" ]]; then
      ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
    fi
  done
  trap - ERR
}

[[ $# -ge 1 ]] || usage
cmd=$1; shift
case "$cmd" in
  up) [[ $# -ge 2 ]] || usage; check_prefix "$1"; up "$@" ;;
  down) [[ $# -eq 1 ]] || usage; check_prefix "$1"; down "$1" ;;
  addr) [[ $# -eq 1 ]] || usage; addr "$1" ;;
  exec) [[ $# -ge 3 ]] || usage; check_prefix "$1"; p=$1; i=$2; shift 2; exec ip netns exec "$p-h$i" "$@" ;;
  *) usage ;;
esac
