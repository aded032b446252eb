#!/usr/bin/env bash
# Load test of the embedded data plane (l7/proxy) next to nginx as an
# equivalent reverse proxy, in one run, on loopback:
#
#   backend   nginx answering "hello" on 127.0.0.1:$BACKEND_PORT
#   nginx     reverse proxy, keep-alive upstream, on 127.0.0.1:$NGINX_PORT
#   eniway    examples/gateway-proxy with one HTTPRoute, on 127.0.0.1:$ENIWAY_PORT
#
# wrk (CONNECTIONS keep-alive connections, THREADS threads, DURATION) loads
# each proxy in turn, ROUNDS times alternating, after a warm-up; the script
# prints every round and the medians of requests/s and p99 latency of both,
# and the ratio of the median throughputs. Installs wrk and nginx with
# apt-get when missing. Everything shares the machine's cores, as on a
# node: wrk, the backend and the proxy under test.
#
#   bash hack/l7-loadtest.sh              # 64 connections, 3 rounds of 15 s each
#   DURATION=30s CONNECTIONS=128 ROUNDS=5 bash hack/l7-loadtest.sh
set -euo pipefail

DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BACKEND_PORT=${BACKEND_PORT:-18181}
NGINX_PORT=${NGINX_PORT:-18182}
ENIWAY_PORT=${ENIWAY_PORT:-18183}
HOST=app.example.com # the quickstart route's hostname, sent to both proxies
root=$(cd "$(dirname "$0")/.." && pwd)

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# nginx: the backend and the reverse proxy, one process, workers as cores.
cat > "$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/error.log warn;
daemon on;
events { worker_connections 4096; }
http {
	access_log off;
	upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 128; }
	server {
		listen 127.0.0.1:$BACKEND_PORT;
		keepalive_requests 1000000;
		location / { return 200 "hello\n"; }
	}
	server {
		listen 127.0.0.1:$NGINX_PORT;
		keepalive_requests 1000000;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		}
	}
}
CONF
"$NGINX" -c "$work/nginx.conf" -p "$work" -e "$work/error.log"

# eniway: the quickstart's Gateway API manifest, on this script's ports.
sed -e "s/18080/$ENIWAY_PORT/; s/18081/$BACKEND_PORT/" "$root/examples/gateway-proxy/testdata/quickstart.yaml" > "$work/gateway.yaml"
(cd "$root" && go build -o "$work/gateway-proxy" ./examples/gateway-proxy)
"$work/gateway-proxy" -f "$work/gateway.yaml" -listen-address 127.0.0.1 >/dev/null 2>"$work/eniway.log" &
pids+=($!)

for port in $BACKEND_PORT $NGINX_PORT $ENIWAY_PORT; do
	for _ in $(seq 100); do
		curl -fsS -o /dev/null -H "Host: $HOST" "http://127.0.0.1:$port/" 2>/dev/null && break
		sleep 0.1
	done
	curl -fsS -o /dev/null -H "Host: $HOST" "http://127.0.0.1:$port/" || { echo "port $port does not answer"; cat "$work/eniway.log"; exit 1; }
done

# load NAME PORT: prints "NAME requests/s p99-in-ms errors"
load() {
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Host: $HOST" "http://127.0.0.1:$2/")
	rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v}')
	errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
	echo "$1 $rps $p99 ${errors:-none}"
}
for port in $NGINX_PORT $ENIWAY_PORT; do
	wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -H "Host: $HOST" "http://127.0.0.1:$port/" >/dev/null # warm-up
done
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds, on $(nproc) cores, $(uname -r)"
printf '%-6s %-8s %12s %9s  %s\n' round proxy requests/s p99-ms errors
: > "$work/results"
for r in $(seq "$ROUNDS"); do
	for p in "nginx $NGINX_PORT" "eniway $ENIWAY_PORT"; do
		set -- $p
		line=$(load "$1" "$2")
		echo "$line" >> "$work/results"
		set -- $line
		name=$1 rps=$2 p99=$3; shift 3
		printf '%-6s %-8s %12s %9s  %s\n' "$r" "$name" "$rps" "$p99" "$*"
	done
done
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
printf '%-8s %18s %14s\n' proxy median-requests/s median-p99-ms
for name in nginx eniway; do
	printf '%-8s %18s %14s\n' "$name" "$(awk -v n=$name '$1 == n {print $2}' "$work/results" | median)" \
		"$(awk -v n=$name '$1 == n {print $3}' "$work/results" | median)"
done
awk -v a="$(awk '$1 == "eniway" {print $2}' "$work/results" | median)" -v b="$(awk '$1 == "nginx" {print $2}' "$work/results" | median)" \
	'BEGIN { printf "eniway/nginx throughput: %.2f\n", a / b }'
