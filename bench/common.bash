# Shared by bench/ingest.sh and bench/backlog.sh (sourced, not run: `make
# bench` runs bench/*.sh, so this file is named .bash). Expects $root, $bin
# and $work set; every process started through `started` is stopped by
# `stop_all` (the scripts' EXIT trap), newest first.
# shellcheck shell=bash disable=SC2154,SC2034  # variables cross the source boundary both ways

tools() { python3 "$root/bench/tools.py" "$@"; }

pids=()
started() { pids+=("$1"); }
stop_pid() {  # pid: TERM, wait up to 10 s, then KILL
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
stop_all() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  pids=()
}

port_from() {  # log file, event name -> port, waiting up to 20 s
  local p
  for _ in $(seq 200); do
    p=$(grep -o "\"event\":\"$2\"[^}]*" "$1" 2>/dev/null | grep -o '"port":[0-9]*' | head -1 | cut -d: -f2 || true)
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.1
  done
  echo "no $2 line in $1:" >&2; cat "$1" >&2; exit 1
}
field_from() {  # log file, event name, field -> a string field of the first such line
  grep -o "\"event\":\"$2\"[^}]*" "$1" | head -1 | grep -o "\"$3\":\"[^\"]*\"" | cut -d'"' -f4
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, clock ticks
peak_rss_mb() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
clk_tck=$(getconf CLK_TCK)

control() {  # method path [json]: the sandbox's control API
  curl -sS --fail-with-body -X "$1" "http://127.0.0.1:$sandbox_port$2" -H 'content-type: application/json' ${3:+-d "$3"}
}

app_key=bench_app_key
shop_cipher=ROW_bench_cipher

# TikTok's customer-service endpoints allow 10,000 calls a day per shop, and
# orderflowd keeps the last 1,000 for replies to buyers: a backlog of 10,000
# new buyers (two calls each: open the conversation, send) would stop at
# about 4,500 messages and wait for 00:00 UTC. The benchmarks measure the
# drain at the rate limit, so both sides get CS_QUOTA (default 1,000,000);
# CS_QUOTA=10000 shows the quota binding instead.
cs_quota=${CS_QUOTA:-1000000}

start_sandbox() {  # extra sandbox options...
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/app_secret"; chmod 600 "$work/app_secret"
  "$bin/orderflow-sandbox" --listen 127.0.0.1:0 --app-key "$app_key" --app-secret-file "$work/app_secret" \
    --shop-cipher "$shop_cipher" --retry-scale 0.001 --cs-daily-quota "$cs_quota" "$@" 2> "$work/sandbox.log" &
  sandbox_pid=$!; started "$sandbox_pid"
  sandbox_port=$(port_from "$work/sandbox.log" sandbox_listening)
  shop_id=$(field_from "$work/sandbox.log" sandbox_listening shop_id)
}

# A daemon's folder: configuration as scripts/demo.sh's, against the sandbox,
# with the poller off (only the webhooks under test make events), the
# circuit breaker raised (its default, 200 messages in 10 minutes, is a
# safety stop that a benchmark of thousands of orders would trip on purpose)
# and the customer-service quota at CS_QUOTA (above).
daemon_dir() {  # dir
  local d=$1
  mkdir -p "$d"
  cp "$work/app_secret" "$d/app_secret"
  cp -r "$root/etc/orderflow/rules" "$d/rules"
  cat > "$d/orderflow.json" <<JSON
// benchmark configuration: everything on loopback, against the sandbox
{
  "tiktok": { "api_base": "http://127.0.0.1:$sandbox_port", "auth_base": "http://127.0.0.1:$sandbox_port",
              "app_key": "$app_key", "app_secret_file": "app_secret", "shop_cipher": "$shop_cipher" },
  "webhook": { "listen": "127.0.0.1:0", "path": "/webhooks/tiktok" },
  "storage": { "path": "orderflow.db", "vault_key_file": "vault.key" },
  "rules": { "dir": "rules", "default_locale": "ja" },
  "admin": { "socket": "admin.sock" },
  "poll": { "enabled": false },
  "breaker": { "max_sends": 1000000, "interval": "10m" },
  "customer_service": { "daily_quota": $cs_quota },
  "timezone": "Asia/Tokyo"
}
JSON
  "$bin/orderflowctl" keygen "$d/vault.key" > /dev/null
  "$bin/orderflowctl" check --config "$d/orderflow.json" > /dev/null
}
authorize() {  # dir: the sandbox's OAuth, as scripts/demo.sh
  local code
  code=$(control POST /control/authorize '{"state":"bench"}' | jq -r .code)
  "$bin/orderflowctl" auth exchange "$code" --config "$1/orderflow.json" > /dev/null
}
start_daemon() {  # dir -> daemon_pid, webhook_port
  "$bin/orderflowd" --config "$1/orderflow.json" 2> "$1/orderflowd.log" &
  daemon_pid=$!; started "$daemon_pid"
  webhook_port=$(port_from "$1/orderflowd.log" webhook_listening)
}
# On exit (normal, failed or interrupted): everything stopped, and $work
# removed unless the run failed or KEEP is set.
stop_all_on_exit() {
  trap _finish EXIT
  trap 'exit 130' INT TERM
}
_finish() {
  local rc=$?
  stop_all
  if [ "$rc" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "logs and databases kept in $work" >&2; fi
}
