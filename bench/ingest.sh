#!/usr/bin/env bash
# Webhook ingest: the same pre-signed stream of TikTok ORDER_STATUS_CHANGE
# webhooks, replayed by wrk against four receivers on loopback:
#   1. nginx `return 200` (the ceiling: an HTTP answer and nothing else),
#   2. a Node-RED 4 flow that checks the signature and dedupes in memory
#      (what a low-code receiver does; nothing durable),
#   3. orderflowd not authorized: every webhook verified, committed to the
#      inbox (fsync) and deferred,
#   4. orderflowd authorized against the sandbox, with the shipped rules:
#      the events go through the pipeline (Get Order Detail, rules, planned
#      messages) while the webhooks arrive.
# Prints per system: requests/s, p50/p99 latency, non-2xx answers, the
# server's CPU per request and peak RSS; for orderflowd the acknowledged vs
# stored check; the ratios last. See bench/README.md.
#
# usage: bench/ingest.sh [BUILD_DIR]   (default build; run by `make bench`)
# environment: DURATION=5 (seconds per wrk run; not SECONDS, bash's own clock),
#   THREADS=1 CONNECTIONS=32 WEBHOOKS=200000 REDELIVERY_SHARE=0.05 ORDERS=50000
#   DRAIN_LIMIT=120 (seconds system 4 may take to process what it stored)
#   WARMUP=5 (seconds of wrk against nginx and Node-RED before their measured
#     run, not counted: Node-RED's JavaScript is compiled while it runs, and
#     a cold flow measures its compiler, not its flow; orderflowd is compiled
#     ahead of time and is measured cold, on a fresh database; 0: none)
#   SYSTEMS="1 2 3 4" (which to run: SYSTEMS=3 DURATION=15 for comparing two builds of orderflowd)
#   ROUNDS=3 (systems 1 to 3 are run this many times, in turn, each time fresh:
#     this VM's rate moves by a fifth from one run to the next, so the ratios
#     are given per round and as medians; system 4 runs once, after them)
#   KEEP=1 keeps the temporary folder (logs, databases)
#   PERF_DIR=DIR records orderflowd's profile during each of its wrk runs
#     (perf record, DWARF call graphs: DIR/orderflowd-ingest.data, ...);
#     read with perf report -i FILE. Costs CPU: not for the numbers.
# shellcheck disable=SC2154  # w_* and d_* are set by eval of bench/tools.py output
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/bin"
duration=${DURATION:-5}
threads=${THREADS:-1}
connections=${CONNECTIONS:-32}
webhooks=${WEBHOOKS:-200000}
redelivery_share=${REDELIVERY_SHARE:-0.05}
orders=${ORDERS:-50000}
drain_limit=${DRAIN_LIMIT:-120}
systems=${SYSTEMS:-1 2 3 4}
rounds=${ROUNDS:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a whole number of at least 1, not '$rounds'" >&2; exit 2; }
warmup=${WARMUP:-5}
node_red_dir=${XDG_CACHE_HOME:-$HOME/.cache}/orderflow-bench/node-red

for b in orderflowd orderflowctl orderflow-sandbox; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: build first (make build, or cmake --build $build)" >&2; exit 1; }
done

# Bench-only tools, not part of `make test`'s dependencies.
"$root/scripts/install-deps.sh" wrk nginx-light
if ! [ -x "$node_red_dir/node_modules/.bin/node-red" ]; then
  command -v npm > /dev/null || "$root/scripts/install-deps.sh" nodejs npm
  echo "installing Node-RED 4 into $node_red_dir" >&2
  mkdir -p "$node_red_dir"
  npm install --prefix "$node_red_dir" --no-audit --no-fund --omit=dev --loglevel=error 'node-red@4' >&2
fi
node_red_version=$(node -e "console.log(require('$node_red_dir/node_modules/node-red/package.json').version)")
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d /tmp/orderflow-bench-ingest-XXXXXX)
sandbox_pid='' sandbox_port=''
# shellcheck source=bench/common.bash
source "$root/bench/common.bash"
stop_all_on_exit

echo "== ingest benchmark: wrk -t$threads -c$connections -d${duration}s, $(nproc) cores, $(date -u +%FT%TZ); systems 1-3: $rounds round(s)"
if [ "$connections" -gt 32 ]; then
  echo "   note: orderflowd admits 32 connections per client address (max_connections_per_peer, docs/operations.md);"
  echo "         past that, each new connection closes the longest-idle one, or gets a 503 when all are busy,"
  echo "         so systems 3 and 4 measure that churn, not ingest"
fi
echo "   wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), Node-RED $node_red_version on node $(node --version)"

# The sandbox holds the orders the stream names (system 4 fetches them);
# it stays up, idle, for the whole run. Its own webhooks for these orders
# are never sent: no target is set.
start_sandbox
tools orders "$sandbox_port" "$orders" "$work/order_ids"
tools stream --webhooks "$webhooks" --redelivery-share "$redelivery_share" --orders "$work/order_ids" \
  --shop-id "$shop_id" --app-key "$app_key" --secret-file "$work/app_secret" --out "$work/stream.txt" --ids "$work/stream.ids"
tools wrk-lua "$work/stream.lua"
stream_length=$(wc -l < "$work/stream.txt")
bad_body='{"type":1,"tts_notification_id":"bench-bad-signature","shop_id":"1","timestamp":1,"data":{}}'

declare -A rps
failures=0

# run_wrk NAME PID PORT [PID_LABEL]: one wrk run; the server's CPU and peak RSS from /proc.
run_wrk() {
  local name=$1 pid=$2 port=$3 label=${4:-process}
  local out="$work/wrk-$name.txt" c0 c1 t0
  echo "   load before: $(loadavg); dirty and in writeback: $(awk '/^(Dirty|Writeback):/ {kb += $2} END {print kb}' /proc/meminfo) kB"
  local perf_pid=''
  if [ -n "${PERF_DIR:-}" ] && [[ $name == orderflowd* ]]; then
    mkdir -p "$PERF_DIR"
    perf record -q -F 499 --call-graph dwarf,16384 -p "$pid" -o "$PERF_DIR/$name.data" 2> "$PERF_DIR/$name.log" &
    perf_pid=$!
  fi
  c0=$(cpu_ticks "$pid")
  wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$work/stream.lua" \
    "http://127.0.0.1:$port/webhooks/tiktok" -- "$work/stream.txt" /webhooks/tiktok > "$out" 2>&1 ||
    { cat "$out"; echo "wrk failed" >&2; exit 1; }
  c1=$(cpu_ticks "$pid")
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  eval "$(tools wrk-result "$out")"
  local rate errors
  rate=$(awk -v n="$w_completed" -v us="$w_duration_us" 'BEGIN {printf "%.0f", n / (us / 1e6)}')
  rps[$name]=$rate
  errors=$((w_connect + w_read + w_write + w_timeout))
  awk -v r="$rate" -v p50="$w_p50_us" -v p99="$w_p99_us" -v n2="$w_non2xx" -v e="$errors" -v c="$w_completed" \
      -v d0="$c0" -v d1="$c1" -v hz="$clk_tck" -v rss="$(peak_rss_mb "$pid")" -v label="$label" \
      -v wc="$w_cpu_ticks" -v wd="$w_duration_us" -v wt="$threads" 'BEGIN {
    printf "   requests/s: %d   p50: %.2f ms   p99: %.2f ms   non-2xx: %d   socket errors: %d   (%d requests)\n", r, p50 / 1000, p99 / 1000, n2, e, c
    printf "   server CPU: %.1f us per request (%.2f s in %s); peak RSS: %s MB\n", (d1 - d0) / hz * 1e6 / (c > 0 ? c : 1), (d1 - d0) / hz, label, rss
    printf "   wrk itself: %.2f s CPU, %.0f%% of its %d thread(s) (near 100%%: the client, not the server, set the rate)\n", wc / hz, 100 * wc / hz / (wd / 1e6) / wt, wt
  }'
  echo "   load after:  $(loadavg)"
  if [[ $name != nginx* ]] && [ "$w_issued" -gt "$stream_length" ]; then
    echo "   note: wrk went past the end of the stream ($stream_length requests): the rest were repeats, cheap duplicates for a deduplicating server (raise WEBHOOKS)"
  fi
}

# warm_up NAME PORT: WARMUP seconds of the same load, not counted. The
# stream starts over in the measured run, so Node-RED has seen its ids:
# each is then one Set lookup instead of a lookup and an insert.
warm_up() {
  local name=$1 port=$2
  local out="$work/wrk-$name-warmup.txt"
  [ "$warmup" -gt 0 ] || return 0
  wrk -t"$threads" -c"$connections" -d"${warmup}s" -s "$work/stream.lua" \
    "http://127.0.0.1:$port/webhooks/tiktok" -- "$work/stream.txt" /webhooks/tiktok > "$out" 2>&1 ||
    { cat "$out"; echo "wrk failed (warm-up)" >&2; exit 1; }
  eval "$(tools wrk-result "$out")"
  awk -v n="$w_completed" -v us="$w_duration_us" -v s="$warmup" \
    'BEGIN {printf "   warm-up: %d s, %.0f requests/s (not counted)\n", s, n / (us / 1e6)}'
}

# commit_times DIR: the inbox's group commits during the run, from the
# daemon's metrics (a p99 far above the p50 is one stalled commit, or not).
commit_times() {
  local text
  if text=$("$bin/orderflowctl" metrics --config "$1/orderflow.json" 2>&1); then
    tools commit-times <<< "$text" || true
  else
    echo "   inbox commits: orderflowctl metrics failed: $text"
  fi
}

# settle DB: after wrk stops, requests still in flight are committed; wait
# until the inbox stops growing (1 s unchanged, at most 15 s).
settle() {
  local last=-1 n
  for _ in $(seq 15); do
    n=$(sqlite3 -readonly "$1" "SELECT count(*) FROM inbox WHERE source = 'webhook'" 2>/dev/null || echo -1)
    [ "$n" = "$last" ] && return
    last=$n; sleep 1
  done
}
ack_check() {  # db
  tools ack-check "$work/stream.ids" "$1" "$w_issued" "$((w_completed - w_non2xx))" || failures=$((failures + 1))
}

# wants N: system N is in SYSTEMS.
wants() { [[ " $systems " == *" $1 "* ]]; }

# system_N SUFFIX: one run of system N; SUFFIX ("", or "-r2" for round 2)
# names its folder, its wrk output and its entry in rps.

system_1() {
local nd="$work/nginx$1"
echo
echo "== 1. nginx: return 200 (the ceiling)"
mkdir -p "$nd"
nginx_port=$(tools free-port)
cat > "$nd/nginx.conf" <<NGINX
# One worker (orderflowd and Node-RED each serve on one thread), no access log.
daemon off;
worker_processes 1;
pid $nd/nginx.pid;
error_log $nd/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $nd/body;
  proxy_temp_path $nd/proxy;
  fastcgi_temp_path $nd/fastcgi;
  uwsgi_temp_path $nd/uwsgi;
  scgi_temp_path $nd/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200; }
  }
}
NGINX
"$nginx_bin" -p "$nd" -c "$nd/nginx.conf" 2> "$nd/stderr.log" &
nginx_pid=$!; started "$nginx_pid"
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break; sleep 0.1; done
nginx_worker=$(pgrep -P "$nginx_pid" | head -1 || true)
[ -n "$nginx_worker" ] || { echo "nginx did not start:" >&2; cat "$nd/stderr.log" "$nd/error.log" >&2 2>/dev/null; exit 1; }
warm_up "nginx$1" "$nginx_port"
run_wrk "nginx$1" "$nginx_worker" "$nginx_port" "the worker"
stop_pid "$nginx_pid"
}

system_2() {
local nrd="$work/node-red$1"
echo
echo "== 2. Node-RED $node_red_version: http in -> function (HMAC over the raw body, dedupe in a Set) -> http response"
mkdir -p "$nrd"
nr_port=$(tools free-port)
cat > "$nrd/settings.js" <<JS
// Node-RED for the benchmark: loopback only, no editor, warnings only.
module.exports = {
  uiHost: "127.0.0.1",
  uiPort: $nr_port,
  userDir: "$nrd",
  flowFile: "flows.json",
  credentialSecret: false,
  httpAdminRoot: false,
  functionGlobalContext: { crypto: require("crypto") },
  logging: { console: { level: "warn", metrics: false, audit: false } },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
};
JS
# skipBodyParsing (http in, Node-RED 4): msg.payload is the body's exact bytes.
cat > "$nrd/flows.json" <<'JSON'
[
  {"id": "tab1", "type": "tab", "label": "TikTok webhooks"},
  {"id": "in1", "type": "http in", "z": "tab1", "name": "webhook", "url": "/webhooks/tiktok", "method": "post",
   "upload": false, "skipBodyParsing": true, "swaggerDoc": "", "wires": [["fn1"]]},
  {"id": "fn1", "type": "function", "z": "tab1", "name": "verify + dedupe", "outputs": 1, "noerr": 0,
   "initialize": "context.set('seen', new Set());", "finalize": "", "libs": [],
   "func": "const crypto = global.get('crypto');\nconst raw = Buffer.isBuffer(msg.payload) ? msg.payload : Buffer.from(String(msg.payload || ''));\nconst got = String(msg.req.headers['authorization'] || '');\nconst want = crypto.createHmac('sha256', env.get('APP_SECRET')).update(env.get('APP_KEY')).update(raw).digest('hex');\nmsg.payload = '';\nif (got.length !== want.length || !crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want))) { msg.statusCode = 401; return msg; }\nlet id;\ntry { id = JSON.parse(raw.toString('utf8')).tts_notification_id; } catch (e) { msg.statusCode = 400; return msg; }\nconst seen = context.get('seen');\nif (!seen.has(id)) seen.add(id);\nmsg.statusCode = 200;\nreturn msg;",
   "wires": [["out1"]]},
  {"id": "out1", "type": "http response", "z": "tab1", "name": "", "statusCode": "", "headers": {}, "wires": []}
]
JSON
APP_KEY=$app_key APP_SECRET=$(cat "$work/app_secret") \
  node "$node_red_dir/node_modules/node-red/red.js" --settings "$nrd/settings.js" > "$nrd/node-red.log" 2>&1 &
nr_pid=$!; started "$nr_pid"
nr_status=
for _ in $(seq 300); do
  nr_status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -H 'Authorization: 00' \
    --data "$bad_body" "http://127.0.0.1:$nr_port/webhooks/tiktok" || true)
  [ "$nr_status" = 401 ] && break
  sleep 0.1
done
[ "$nr_status" = 401 ] || { echo "Node-RED did not answer a bad signature with 401 (got $nr_status):" >&2; cat "$nrd/node-red.log" >&2; exit 1; }
echo "   a bad signature is answered 401"
warm_up "node-red$1" "$nr_port"
run_wrk "node-red$1" "$nr_pid" "$nr_port" "node"
stop_pid "$nr_pid"
}

system_3() {
echo
echo "== 3. orderflowd ingest alone (not authorized: every event stored and deferred)"
local d3="$work/orderflowd-ingest$1"
daemon_dir "$d3"
start_daemon "$d3"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: 00' --data "$bad_body" "http://127.0.0.1:$webhook_port/webhooks/tiktok")
[ "$status" = 401 ] || { echo "orderflowd answered a bad signature with $status, not 401" >&2; exit 1; }
echo "   a bad signature is answered 401"
run_wrk "orderflowd-ingest$1" "$daemon_pid" "$webhook_port" "orderflowd"
commit_times "$d3"
settle "$d3/orderflow.db"
ack_check "$d3/orderflow.db"
stop_pid "$daemon_pid"
}

for round in $(seq 1 "$rounds"); do
  suffix=''
  if [ "$rounds" -gt 1 ]; then
    suffix="-r$round"
    wants 1 || wants 2 || wants 3 && { echo; echo "==== round $round of $rounds"; }
  fi
  if wants 1; then system_1 "$suffix"; fi
  if wants 2; then system_2 "$suffix"; fi
  if wants 3; then system_3 "$suffix"; fi
done

if wants 4; then
echo
echo "== 4. orderflowd full flow: authorized against the sandbox, shipped rules (etc/orderflow/rules)"
d4="$work/orderflowd-full"
daemon_dir "$d4"
authorize "$d4"
start_daemon "$d4"
echo "   order ids of the stream: $orders orders created in the sandbox first (POST /control/orders, AWAITING_SHIPMENT)"
t0=$(date +%s.%N); cpu0=$(cpu_ticks "$daemon_pid")
run_wrk orderflowd-full "$daemon_pid" "$webhook_port" "orderflowd"
during=$(sqlite3 -readonly "$d4/orderflow.db" "SELECT count(*) FROM inbox WHERE source = 'webhook' AND state IN ('done','ignored','failed')")
commit_times "$d4"
settle "$d4/orderflow.db"
stored=$(sqlite3 -readonly "$d4/orderflow.db" "SELECT count(*) FROM inbox WHERE source = 'webhook'")
echo "   processing what was stored (at most ${drain_limit} s):"
eval "$(tools drain "$d4/orderflow.db" --t0 "$t0" --expect "$stored" --limit "$drain_limit" --every 10 --progress)"
cpu1=$(cpu_ticks "$daemon_pid")
awk -v during="$during" -v dur="$duration" -v fin="$d_finished" -v el="$d_finished_at" -v c0="$cpu0" -v c1="$cpu1" -v hz="$clk_tck" \
    -v sent="$d_sent" -v failed="$d_failed" -v settled="$d_settled" -v pending="$d_pending" 'BEGIN {
  printf "   pipeline: %d events finished while wrk ran (%.0f/s); all %d stored events finished %.1f s after the start: %.0f events/s through the pipeline%s\n",
    during, during / dur, fin, el, fin / el, settled ? "" : sprintf(" (NOT settled: %d still pending)", pending)
  printf "   CPU per event: %.0f us (orderflowd utime+stime from the start of wrk to the last event: %.2f s, ingest included)\n",
    (c1 - c0) / hz * 1e6 / (fin > 0 ? fin : 1), (c1 - c0) / hz
  printf "   messages sent by then: %d (%.1f/s; TikTok allows 50 send-message calls/s per shop: bench/backlog.sh measures that drain); failed events: %d\n",
    sent, sent / el, failed
}'
echo "   actions by state: $d_actions"
if [ "$w_issued" -gt "$orders" ]; then
  echo "   note: the stream went past the $orders sandbox orders; later webhooks repeat an order already seen (raise ORDERS)"
fi
echo "   calls per API (the sandbox's call log, whole seconds; orderflowd paces each API at 90% of TikTok's 50/s, 45/s):"
tools calls "$sandbox_port" --limit 50
ack_check "$d4/orderflow.db"
peak_daemon=$(peak_rss_mb "$daemon_pid")
echo "   peak RSS after processing: $peak_daemon MB"
stop_pid "$daemon_pid"
fi

echo
echo "== ratios (requests/s)"
# Per round (systems 1-3 of the same round, one after another), then the
# medians over the rounds: the median of each system's rate, and the
# median of the rounds' ratios. The full flow (once) against the medians.
median() { if [ $# -eq 0 ]; then echo 0; return; fi; printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
m_ingest=() m_nr=() m_nginx=() q_nr=() q_nginx=()
for round in $(seq 1 "$rounds"); do
  suffix=''; [ "$rounds" -gt 1 ] && suffix="-r$round"
  a=${rps[orderflowd-ingest$suffix]:-0} n=${rps[node-red$suffix]:-0} x=${rps[nginx$suffix]:-0}
  [ "$a" -gt 0 ] && m_ingest+=("$a"); [ "$n" -gt 0 ] && m_nr+=("$n"); [ "$x" -gt 0 ] && m_nginx+=("$x")
  [ "$a" -gt 0 ] && [ "$n" -gt 0 ] && q_nr+=("$(awk -v a="$a" -v n="$n" 'BEGIN {printf "%.4f", a / n}')")
  [ "$a" -gt 0 ] && [ "$x" -gt 0 ] && q_nginx+=("$(awk -v a="$a" -v x="$x" 'BEGIN {printf "%.4f", a / x}')")
  [ "$rounds" -gt 1 ] || continue
  awk -v r="$round" -v a="$a" -v n="$n" -v x="$x" 'BEGIN {
    line = sprintf("   round %d: nginx %d, Node-RED %d, orderflowd ingest %d", r, x, n, a)
    if (a > 0 && n > 0) line = line sprintf("; ingest / Node-RED %.2fx", a / n)
    if (a > 0 && x > 0) line = line sprintf(", / nginx %.3fx", a / x)
    print line
  }'
done
a=$(median "${m_ingest[@]}") n=$(median "${m_nr[@]}") x=$(median "${m_nginx[@]}")
label=''; [ "$rounds" -gt 1 ] && label=" (medians of $rounds rounds)"
awk -v a="$a" -v n="$n" -v x="$x" -v f="${rps[orderflowd-full]:-0}" -v qn="$(median "${q_nr[@]}")" -v qx="$(median "${q_nginx[@]}")" \
    -v rounds="$rounds" -v label="$label" 'BEGIN {
  rn = (rounds > 1) ? qn : (n > 0 ? a / n : 0)
  rx = (rounds > 1) ? qx : (x > 0 ? a / x : 0)
  how = (rounds > 1) ? "; each ratio is the median of the rounds\047 ratios" : ""
  if (a > 0 && n > 0) printf "   orderflowd ingest / Node-RED: %.2fx   (%d / %d%s)%s\n", rn, a, n, label, how
  if (a > 0 && x > 0) printf "   orderflowd ingest / nginx:    %.3fx  (%d / %d%s)\n", rx, a, x, label
  if (f > 0 && n > 0) printf "   orderflowd full / Node-RED:   %.2fx   (%d / %d)\n", f / n, f, n
  if (f > 0 && x > 0) printf "   orderflowd full / nginx:      %.3fx  (%d / %d)\n", f / x, f, x
  if ((a + f) == 0 || (n + x) == 0) print "   none: a ratio needs orderflowd (3 or 4) and nginx or Node-RED (1 or 2) in SYSTEMS"
}'
if [ "$failures" -gt 0 ]; then echo "!!! $failures acknowledged-vs-stored MISMATCH(es) above" >&2; exit 1; fi
