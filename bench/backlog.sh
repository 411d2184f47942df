#!/usr/bin/env bash
# Backlog drain at TikTok's rate limits: BACKLOG orders become ready to ship
# while orderflowd is down, so their ORDER_STATUS_CHANGE webhooks wait at
# TikTok (the sandbox, rate limit 50 calls/s per API, app and shop, as
# documented); orderflowd starts, the webhooks arrive all at once (SENDERS
# connections, as TikTok's redeliveries after an outage), and it works
# through them with the shipped rules: one Get Order Detail per 50
# orders, a thank-you message per order (a conversation to open first), an
# engraving request for the 10% of orders with an engraved SKU and no note.
# Reports how long the drain took, events/s and messages/s, calls per API per
# second against the limit, which limit binds, and the throttled answers
# (HTTP 429 / code 36009002) from the sandbox's call log, which must be 0.
# See bench/README.md.
#
# usage: bench/backlog.sh [BUILD_DIR]   (default build; run by `make bench`)
# environment: BACKLOG=10000 ENG_SHARE=0.1 QPS=50 SENDERS=16
#   LIMIT (seconds to wait for the drain; default twice the messages at QPS, plus 2 minutes)
#   KEEP=1 keeps the temporary folder (logs, database)
# shellcheck disable=SC2154  # w_* and d_* are set by eval of bench/tools.py output
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/bin"
backlog=${BACKLOG:-10000}
eng_share=${ENG_SHARE:-0.1}
qps=${QPS:-50}
senders=${SENDERS:-16}
limit=${LIMIT:-$(awk -v n="$backlog" -v e="$eng_share" -v q="$qps" 'BEGIN {printf "%d", 2 * n * (1 + e) / q + 120}')}

for b in orderflowd orderflowctl orderflow-sandbox; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: build first (make build, or cmake --build $build)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/orderflow-bench-backlog-XXXXXX)
sandbox_pid='' sandbox_port=''
# shellcheck source=bench/common.bash
source "$root/bench/common.bash"
stop_all_on_exit

echo "== backlog benchmark: $backlog events at TikTok's rate limit ($qps calls/s per API, app and shop), $(nproc) cores, $(date -u +%FT%TZ)"
start_sandbox --rate-limit-qps "$qps"
d="$work/orderflowd"
daemon_dir "$d"
authorize "$d"

echo "   orderflowd is down; $backlog orders become ready to ship (their webhooks wait at TikTok):"
tools orders "$sandbox_port" "$backlog" "$work/order_ids" "$eng_share"
queued=$(control GET /control/webhooks | jq '[.webhooks[] | select(.type == 1 and .delivered != true)] | length')
echo "   webhooks waiting at the sandbox: $queued"

echo "   load before: $(loadavg)"
start_daemon "$d"
t0=$(date +%s.%N); cpu0=$(cpu_ticks "$daemon_pid")
# orderflowd is back: every waiting notification arrives at once. The
# sandbox's own sender goes one at a time (each after the previous 200),
# which would spread 10,000 over minutes; its webhook target stays unset,
# so the notifications of the shop's own messages are not sent either.
echo "   orderflowd started; the backlog arrives. Progress:"
tools deliver "$sandbox_port" "$webhook_port" --app-key "$app_key" --secret-file "$work/app_secret" \
  --concurrency "$senders" &
deliver_pid=$!; started "$deliver_pid"
eval "$(tools drain "$d/orderflow.db" --t0 "$t0" --expect "$backlog" --where "source = 'webhook' AND topic = 1" \
          --actions --limit "$limit" --every 10 --progress --interval 0.5)"
cpu1=$(cpu_ticks "$daemon_pid")
wait "$deliver_pid" || { echo "some webhooks could not be delivered" >&2; exit 1; }
echo "   load after:  $(loadavg)"

db() { sqlite3 -readonly "$d/orderflow.db" "$@"; }
messages=$(db "SELECT count(*) FROM outbox WHERE kind = 'send_message'")
sent=$(db "SELECT count(*) FROM outbox WHERE kind = 'send_message' AND state = 'done'")
last_sent=$(db "SELECT max(updated_at) FROM outbox WHERE kind = 'send_message' AND state = 'done'")
first_sent=$(db "SELECT min(updated_at) FROM outbox WHERE kind = 'send_message' AND state = 'done'")

echo
echo "== result"
[ "$d_settled" = 1 ] || echo "   NOT DRAINED within $limit s: $d_pending events pending, $d_actions_open actions waiting"
awk -v n="$backlog" -v stored="$d_stored" -v in_at="$d_stored_at" -v fin="$d_finished" -v fin_at="$d_finished_at" \
    -v el="$d_elapsed" -v msgs="$messages" -v sent="$sent" -v fs="$first_sent" -v ls="$last_sent" -v q="$qps" \
    -v c0="$cpu0" -v c1="$cpu1" -v hz="$clk_tck" -v senders="$senders" 'BEGIN {
  printf "   backlog: %d ORDER_STATUS_CHANGE webhooks; all %d in the inbox %.1f s after orderflowd started (%.0f webhooks/s from %d connections)\n", n, stored, in_at, stored / in_at, senders
  printf "   events: %d processed in %.1f s: %.0f events/s (one Get Order Detail per 50 orders)\n", fin, fin_at, fin / fin_at
  printf "   messages: %d of %d sent; drained %.1f s after the start: %.1f messages/s overall, %.1f/s from the first send to the last (limit %d/s)\n",
    sent, msgs, el, sent / el, (ls > fs ? sent / (ls - fs + 1) : 0), q
  printf "   time to drain: %.1f s; at exactly %d send-message calls/s the %d messages need %.1f s (the drain ran at %.0f%% of that pace)\n", el, q, sent, sent / q, 100 * (sent / q) / el
  printf "   orderflowd CPU: %.2f s, %.0f us per event (ingest, pipeline and sends)\n", (c1 - c0) / hz, (c1 - c0) / hz * 1e6 / n
}'
echo "   peak RSS: orderflowd $(peak_rss_mb "$daemon_pid") MB"
echo
echo "== calls per API (the sandbox's call log, whole seconds)"
tools calls "$sandbox_port" --limit "$qps"
[ "$d_settled" = 1 ] || exit 1
