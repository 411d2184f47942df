#!/usr/bin/env bash
# The real binaries against bench/bigdb's databases: orderflowd's memory
# (VmRSS and VmHWM from /proc) after it has started on the database and sat
# idle for a few seconds, and the wall time of `orderflowctl status` and
# `orderflowctl review list` (which the daemon answers over its admin socket).
# Both for the small and the big database, so the ratio says what a million
# orders cost. The daemon runs with no TikTok tokens and an unreachable API,
# so it only starts, purges (nothing, the data is younger than the retention
# period) and waits.
#
#   bench/bigdb.sh [BUILD_DIR] [SCRATCH_DIR]     (defaults: build, /tmp/orderflow-bigdb)
#
# Runs build/bench/bigdb first when SCRATCH_DIR has no databases yet (about
# 5 GB and ten minutes for the default million orders). Remove SCRATCH_DIR
# when done.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
scratch=${2:-/tmp/orderflow-bigdb}
idle=${IDLE_SECONDS:-5}
repeats=${REPEATS:-5}
start_limit=${START_LIMIT:-900}   # seconds orderflowd may take to be ready (a key conversion)

for bin in "$build/bin/orderflowd" "$build/bin/orderflowctl" "$build/bench/bigdb"; do
    [[ -x $bin ]] || { echo "missing $bin: cmake --build $build --target orderflowd orderflowctl bigdb" >&2; exit 1; }
done
if [[ ! -f $scratch/big.db || ! -f $scratch/small.db ]]; then
    "$build/bench/bigdb" --dir "$scratch"
fi

# Milliseconds of wall time for one run of the command.
ms() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" > /dev/null || { echo "failed: $*" >&2; return 1; }
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

run_one() {
    local name=$1 db=$2 dir=$scratch/run-$1 pid
    rm -rf "$dir" && mkdir -p "$dir/rules"
    # One key per database, kept beside it: its first start records the
    # key's check value, and a later run with another key would be refused.
    [[ -f $db.vault.key ]] || "$build/bin/orderflowctl" keygen "$db.vault.key" > /dev/null
    printf 'bench-app-secret' > "$dir/app_secret" && chmod 600 "$dir/app_secret"
    cat > "$dir/rules/thanks.json" <<'EOF'
{
  "templates": { "thanks": { "ja": "{{order.buyer_name}}様、ご注文 {{order.id}} ありがとうございます。" } },
  "rules": [ { "id": "thanks", "on": "order.status_changed",
               "if": { "order.status": { "eq": "AWAITING_SHIPMENT" } },
               "then": [ { "send_message": { "template": "thanks" } } ] } ]
}
EOF
    cat > "$dir/orderflow.json" <<EOF
{
  "tiktok": { "api_base": "http://127.0.0.1:9", "auth_base": "http://127.0.0.1:9", "app_key": "bench",
              "app_secret_file": "app_secret", "shop_cipher": "ROW_bench", "timeout": "2s" },
  "webhook": { "listen": "127.0.0.1:0", "path": "/webhooks/tiktok", "max_body": 262144 },
  "storage": { "path": "$db", "vault_key_file": "$db.vault.key" },
  "rules": { "dir": "rules", "default_locale": "ja" },
  "admin": { "socket": "admin.sock" },
  "retention": { "personal_data": "90d" },
  "timezone": "Asia/Tokyo"
}
EOF
    "$build/bin/orderflowd" --config "$dir/orderflow.json" > "$dir/orderflowd.log" 2>&1 &
    pid=$!
    daemon_pid=$pid
    # Ready, not merely listening: the first start on a database generated
    # with unkeyed idempotency keys converts them all before it takes
    # anything (about two minutes for the million orders' 1.4 million
    # actions), and RSS or the commands measured during that would say
    # nothing about the daemon at rest.
    local started waited=0
    started=$(date +%s%N)
    until grep -q '"daemon_ready"' "$dir/orderflowd.log"; do
        kill -0 "$pid" 2> /dev/null || { echo "orderflowd exited; see $dir/orderflowd.log" >&2; cat "$dir/orderflowd.log" >&2; exit 1; }
        (( waited++ < start_limit * 10 )) || { echo "orderflowd not ready after ${start_limit} s; see $dir/orderflowd.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "--- $name: ready $(( ($(date +%s%N) - started) / 1000000 )) ms after the start"
    grep '"idempotency_keys_rekeyed"' "$dir/orderflowd.log" |
        sed -E 's/.*"actions":([0-9]+).*"events":([0-9]+).*"ms":([0-9]+).*/    first start: \1 actions and \2 events given keyed idempotency keys in \3 ms/' || true
    sleep "$idle"
    local rss hwm
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    local status_ms=() review_ms=()
    for _ in $(seq "$repeats"); do
        status_ms+=("$(ms "$build/bin/orderflowctl" status --config "$dir/orderflow.json")")
        review_ms+=("$(ms "$build/bin/orderflowctl" review list --config "$dir/orderflow.json")")
    done
    echo "--- orderflowctl status ($name):"
    "$build/bin/orderflowctl" status --config "$dir/orderflow.json" || true
    kill -TERM "$pid"
    wait "$pid" || true
    daemon_pid=''
    printf '%-6s %8.1f MB db  VmRSS %6.1f MB  VmHWM %6.1f MB  status ms: %s  review list ms: %s\n' "$name" \
        "$(echo "$(stat -c %s "$db") / 1000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" \
        "${status_ms[*]}" "${review_ms[*]}"
}

daemon_pid=''
trap '[[ -z $daemon_pid ]] || kill -TERM "$daemon_pid" 2> /dev/null || true' EXIT
echo "load: $(cat /proc/loadavg)"
run_one small "$scratch/small.db"
run_one big "$scratch/big.db"
echo "after: $(cat /proc/loadavg)"
