#!/usr/bin/env bash
# Per-packet CPU cost of dropping UDP from a deny-listed source, eniway's
# XDP prefilter next to iptables (one rule per CIDR), ipset (one hash:net
# set, one rule) and nftables (one interval set), in one run, on a veth
# pair between two network namespaces. Needs root.
#
# For each size of deny list (CIDRS, default "10 10000") it builds that
# many random IPv4 CIDRs, one of which holds the sender's source address
# (listed last, so a linear list walks all of it), installs each filter in
# turn on the receiving side, sends PACKETS UDP packets with trafgen
# (PF_PACKET, one CPU) ROUNDS times and reads the CPU the whole machine
# spent from /proc/stat: sender, veth and filter together. It prints the
# median ns of CPU per packet for each filter, and "none" (no filter: the
# packets reach UDP and are dropped there, no socket listening), and each
# filter's cost over eniway's (native XDP). It checks that each filter
# dropped every packet. iptables runs at the raw table's PREROUTING hook (the earliest
# iptables has), legacy backend; nftables and ipset likewise before
# connection tracking. Installs iptables, ipset, nftables and netsniff-ng
# (trafgen) with apt-get when missing.
#
#   sudo bash hack/prefilter-compare.sh
#   CIDRS="100 1000 10000" PACKETS=4000000 sudo bash hack/prefilter-compare.sh
set -euo pipefail

CIDRS=${CIDRS:-"10 10000"}
ROUNDS=${ROUNDS:-3}
PACKETS=${PACKETS:-2000000}
# A linear rule list costs tens of microseconds a packet at 10k rules:
# iptables gets PACKETS*100/CIDRS packets (at most PACKETS), which keeps
# its run as long as the others' (its figure is per packet all the same).
root=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
need=()
command -v iptables-legacy >/dev/null || need+=(iptables)
command -v ipset >/dev/null || need+=(ipset)
command -v nft >/dev/null || need+=(nftables)
command -v trafgen >/dev/null || need+=(netsniff-ng)
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
cli=eniway-pf-cli-$$ srv=eniway-pf-srv-$$
backlog=$(sysctl -n net.core.netdev_max_backlog)
cleanup() {
	sysctl -q -w net.core.netdev_max_backlog="$backlog" || true
	ip netns exec "$srv" "$work/prefilter-load" -pin "$work/bpffs/pf" -remove 2>/dev/null || true
	umount "$work/bpffs" 2>/dev/null || true
	ip netns del "$cli" 2>/dev/null || true
	ip netns del "$srv" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/prefilter-load" ./hack/prefilter-load)
# A veth hands what it receives to the CPU's backlog queue unless XDP runs
# on it: a deep queue, so that no filter's packets are lost there, unseen.
sysctl -q -w net.core.netdev_max_backlog=1000000
mkdir -p "$work/bpffs" && mount -t bpf bpf "$work/bpffs"

ip netns add "$cli" && ip netns add "$srv"
ip link add veth-c netns "$cli" type veth peer name veth-s netns "$srv"
ip -n "$cli" addr add 10.200.0.1/24 dev veth-c
ip -n "$srv" addr add 10.200.0.2/24 dev veth-s
ip -n "$cli" link set veth-c up && ip -n "$srv" link set veth-s up
ip -n "$cli" link set lo up && ip -n "$srv" link set lo up
mac=$(ip -n "$srv" -o link show veth-s | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
src=10.200.0.1

cat > "$work/packet.cfg" <<CFG
{ eth(da=$mac), ipv4(saddr=$src, daddr=10.200.0.2), udp(sp=40000, dp=9), fill(0x41, 18) }
CFG

# cpu_ns N: sends N packets and prints the CPU ns spent per packet.
cpu_ns() {
	local n=$1 before after
	before=$(awk '/^cpu / {print $2+$3+$4+$7+$8}' /proc/stat)
	ip netns exec "$cli" trafgen --dev veth-c --conf "$work/packet.cfg" -n "$n" --cpus 1 -q >/dev/null 2>&1
	after=$(awk '/^cpu / {print $2+$3+$4+$7+$8}' /proc/stat)
	awk -v b="$before" -v a="$after" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (a - b) * 1e9 / hz / n }'
}

# delivered: the packets that reached UDP on the receiving side (no
# socket listens: NoPorts), to check that a filter dropped them all.
delivered() { ip netns exec "$srv" awk '/^Udp:/ {getline; print $3; exit}' /proc/net/snmp; } # NoPorts

# install_F and remove_F put filter F on the receiving side and take it
# away again; the deny list is $work/deny.txt.
install_none() { :; }
remove_none() { :; }
install_xdp() {
	ip netns exec "$srv" "$work/prefilter-load" -pin "$work/bpffs/pf" -iface veth-s -mode "$1" -cidrs "$work/deny.txt" >/dev/null
}
remove_xdp() { ip netns exec "$srv" "$work/prefilter-load" -pin "$work/bpffs/pf" -remove; }
install_native() { install_xdp native; }
remove_native() { remove_xdp; }
install_generic() { install_xdp generic; }
remove_generic() { remove_xdp; }
install_iptables() {
	sed "s|^|-A PREROUTING -s |; s|$| -j DROP|" "$work/deny.txt" | { echo "*raw"; echo ":PREROUTING ACCEPT [0:0]"; cat; echo COMMIT; } |
		ip netns exec "$srv" iptables-legacy-restore
}
remove_iptables() { ip netns exec "$srv" iptables-legacy -t raw -F PREROUTING; }
install_ipset() {
	{ echo "create deny hash:net maxelem $(( $(wc -l < "$work/deny.txt") * 2 ))"; sed 's/^/add deny /' "$work/deny.txt"; } |
		ip netns exec "$srv" ipset restore
	ip netns exec "$srv" iptables-legacy -t raw -A PREROUTING -m set --match-set deny src -j DROP
}
remove_ipset() {
	ip netns exec "$srv" iptables-legacy -t raw -F PREROUTING
	ip netns exec "$srv" ipset destroy deny
}
install_nftables() {
	{ echo "table ip eniway_cmp {"
	  echo "  set deny { type ipv4_addr; flags interval; auto-merge; elements = { $(paste -sd, "$work/deny.txt") }; }"
	  echo "  chain pre { type filter hook prerouting priority raw; policy accept; ip saddr @deny drop; }"
	  echo "}"; } > "$work/nft.conf"
	ip netns exec "$srv" nft -f "$work/nft.conf"
}
remove_nftables() { ip netns exec "$srv" nft delete table ip eniway_cmp; }

echo "trafgen, $PACKETS packets a filter (fewer through a long iptables list), $(nproc) CPUs, $(uname -r)"
echo "ns/packet: CPU of the whole machine (sender, veth, filter) per packet; over-eniway: the difference, in ns"
echo "native and generic: eniway's prefilter in native and generic XDP; over-eniway and ratio are against native"
printf '%-8s %-10s %12s %14s %10s\n' cidrs filter ns/packet over-eniway ratio
for n in $CIDRS; do
	# n-1 random /16 to /28 CIDRs outside 10/8, then the sender's /32.
	awk -v n="$n" 'BEGIN { srand(n); for (i = 1; i < n; i++) { a = 11 + int(rand() * 200); l = 16 + int(rand() * 13);
		printf "%d.%d.%d.%d/%d\n", a, int(rand() * 256), int(rand() * 256), int(rand() * 256), l } }' |
		python3 -c 'import ipaddress,sys; [print(ipaddress.ip_network(l.strip(), strict=False)) for l in sys.stdin]' | sort -u |
		head -n $((n - 1)) > "$work/deny.txt"
	echo "$src/32" >> "$work/deny.txt"
	lines=$(wc -l < "$work/deny.txt")

	declare -A cost=()
	for f in none native generic iptables ipset nftables; do
		install_$f
		n_packets=$PACKETS
		[ $f = iptables ] && n_packets=$(( PACKETS * 100 / lines < PACKETS ? PACKETS * 100 / lines : PACKETS ))
		runs=()
		for _ in $(seq "$ROUNDS"); do
			noports0=$(delivered)
			runs+=("$(cpu_ns "$n_packets")")
			got=$(( $(delivered) - noports0 ))
			if [ $f = none ]; then
				[ "$got" -ge "$n_packets" ] || echo "warning: $((n_packets - got)) packets did not reach UDP without a filter" >&2
			elif [ "$got" -ne 0 ]; then
				echo "warning: $f let $got packets through" >&2
			fi
		done
		remove_$f
		cost[$f]=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
	done
	cost[eniway]=${cost[native]}
	for f in native generic nftables ipset iptables none; do
		printf '%-8s %-10s %12s %14s %10s\n' "$lines" "$f" "${cost[$f]}" "$(( cost[$f] - cost[eniway] ))" \
			"$(awk -v a="${cost[$f]}" -v b="${cost[eniway]}" 'BEGIN { printf "%.1fx", a / b }')"
	done
done
