#!/usr/bin/env bash
# make demo: the sandbox and the daemon on loopback, the shop authorized
# through the sandbox's OAuth, a handful of orders moved through their
# statuses, and a short account of what happened. Stops both and exits 0.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/bin"
work=$(mktemp -d /tmp/orderflow-demo-XXXXXX)
sandbox_pid= daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  [ -n "$sandbox_pid" ] && kill -TERM "$sandbox_pid" 2>/dev/null && wait "$sandbox_pid" 2>/dev/null || true
}
trap cleanup EXIT

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
port_from() {  # log file, event name -> port, waiting up to 10 s
  for _ in $(seq 100); do
    p=$(grep -o "\"event\":\"$2\"[^}]*" "$1" 2>/dev/null | grep -o '"port":[0-9]*' | head -1 | cut -d: -f2 || true)
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.1
  done
  echo "no $2 line in $1:" >&2; cat "$1" >&2; exit 1
}
ctl() { "$bin/orderflowctl" "$@" --config "$work/orderflow.json"; }
control() {  # method path [json]
  curl -sS -X "$1" "http://127.0.0.1:$sandbox_port$2" -H 'content-type: application/json' ${3:+-d "$3"}
}

app_key=demo_app_key
shop_cipher=ROW_demo_cipher
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/app_secret"; chmod 600 "$work/app_secret"
cp -r "$root/etc/orderflow/rules" "$work/rules"

say "1. Starting the TikTok Shop sandbox"
"$bin/orderflow-sandbox" --listen 127.0.0.1:0 --app-key "$app_key" --app-secret-file "$work/app_secret" \
  --shop-cipher "$shop_cipher" --retry-scale 0.001 2> "$work/sandbox.log" &
sandbox_pid=$!
sandbox_port=$(port_from "$work/sandbox.log" sandbox_listening)
echo "   sandbox on 127.0.0.1:$sandbox_port"

cat > "$work/orderflow.json" <<JSON
// demo configuration: everything on loopback, against the sandbox
{
  "tiktok": { "api_base": "http://127.0.0.1:$sandbox_port", "auth_base": "http://127.0.0.1:$sandbox_port",
              "app_key": "$app_key", "app_secret_file": "app_secret", "shop_cipher": "$shop_cipher" },
  "webhook": { "listen": "127.0.0.1:0", "path": "/webhooks/tiktok" },
  "storage": { "path": "orderflow.db", "vault_key_file": "vault.key" },
  "rules": { "dir": "rules", "default_locale": "ja" },
  "admin": { "socket": "admin.sock", "listen": "127.0.0.1:0", "token_file": "admin.token" },
  "tracking": { "carriers": { "ヤマト運輸": "Yamato Transport" } },
  "timezone": "Asia/Tokyo"
}
JSON
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/admin.token"
chmod 600 "$work/admin.token"

say "2. Checking the configuration and rules"
"$bin/orderflowctl" keygen "$work/vault.key" | sed 's/^/   /'
ctl check | sed 's/^/   /'

say "3. Authorizing the shop through the sandbox's OAuth"
ctl auth url | head -1 | sed 's/^/   seller opens: /'
code=$(control POST /control/authorize '{"state":"demo"}' | jq -r .code)
echo "   seller approved; the callback carries an authorization code"
ctl auth exchange "$code" | sed 's/^/   /'

say "4. Starting orderflowd"
"$bin/orderflowd" --config "$work/orderflow.json" 2> "$work/orderflowd.log" &
daemon_pid=$!
webhook_port=$(port_from "$work/orderflowd.log" webhook_listening)
admin_port=$(port_from "$work/orderflowd.log" admin_http_listening)
control POST /control/webhook "{\"url\":\"http://127.0.0.1:$webhook_port/webhooks/tiktok\"}" > /dev/null
echo "   listening for webhooks on 127.0.0.1:$webhook_port; the sandbox delivers there"

say "5. Buyers place orders; the shop moves them along"
new_order() { control POST /control/orders "$1" | jq -r .id; }
o1=$(new_order '{"buyer_name":"山田 花子","line_items":[{"seller_sku":"MUG-01","product_name":"有田焼マグカップ","sale_price":"2800"}]}')
o2=$(new_order '{"buyer_name":"佐藤 健","line_items":[{"seller_sku":"ENG-RING-01","product_name":"刻印リング","sale_price":"4980"}],"buyer_message":""}')
o3=$(new_order '{"buyer_name":"Emily Carter","line_items":[{"seller_sku":"TEA-SENCHA","product_name":"静岡煎茶 100g","sale_price":"1200"},{"seller_sku":"TEA-SENCHA","product_name":"静岡煎茶 100g","sale_price":"1200"}]}')
o4=$(new_order '{"buyer_name":"鈴木 一郎","line_items":[{"seller_sku":"CUP-03","product_name":"湯呑み","sale_price":"1800"}]}')
for o in $o1 $o2 $o3 $o4; do control POST "/control/orders/$o/status" '{"status":"ON_HOLD"}' > /dev/null; done
for o in $o1 $o2 $o3; do control POST "/control/orders/$o/status" '{"status":"AWAITING_SHIPMENT"}' > /dev/null; done
control POST "/control/orders/$o4/status" '{"status":"CANCELLED"}' > /dev/null
for s in AWAITING_COLLECTION IN_TRANSIT DELIVERED; do control POST "/control/orders/$o1/status" "{\"status\":\"$s\"}" > /dev/null; done
# TikTok redelivers webhooks; so does the sandbox on request: the same notification again.
first=$(control GET /control/webhooks | jq -r '[.webhooks[] | select(.type == 1)][0].notification_id')
control POST /control/webhooks/redeliver "{\"notification_id\":\"$first\"}" > /dev/null
control POST /control/webhooks/redeliver "{\"notification_id\":\"$first\"}" > /dev/null
echo "   $o1 山田 花子: paid, shipped, delivered"
echo "   $o2 佐藤 健: paid, engraving SKU without a note, awaiting shipment"
echo "   $o3 Emily Carter: paid, two units of one SKU, awaiting shipment"
echo "   $o4 鈴木 一郎: paid, then cancelled"
echo "   and the sandbox redelivered notification $first twice, as TikTok does after a timeout"

# Wait (at most 30 s) until the sandbox has delivered every webhook and the
# daemon has processed every event and run every planned action.
settled=
for _ in $(seq 150); do
  undelivered=$(control GET /control/webhooks | jq '[.webhooks[] | select(.delivered != true)] | length')
  busy=$(ctl status | grep -E '^(events|actions):' | grep -oE '(pending|planned|sending|deferred) [1-9]' || true)
  if [ "$undelivered" = 0 ] && [ -z "$busy" ]; then settled=1; break; fi
  sleep 0.2
done
[ -n "$settled" ] || echo "   (still busy after 30 s; showing what happened so far)"

say "5b. The warehouse sends a tracking number (POST /v1/tracking on the admin listener)"
curl -sS -X POST "http://127.0.0.1:$admin_port/v1/tracking" -H "Authorization: Bearer $(cat "$work/admin.token")" \
  -H 'content-type: application/json' -d "{\"order_id\":\"$o3\",\"carrier\":\"ヤマト運輸\",\"tracking_number\":\"4912-3456-7890\"}" \
  | sed 's/^/   answer: /'; echo
for _ in $(seq 100); do
  [ "$(control GET "/control/orders/$o3" | jq -r .status)" = AWAITING_COLLECTION ] && break
  sleep 0.2
done
control GET "/control/orders/$o3" | jq -r '"   \(.id) Emily Carter: \(.status), shipped with \(.shipping_provider) \(.tracking_number)"'
echo "   (update_tracking mapped ヤマト運輸 to TikTok's shipping provider and called Ship Package once)"

say "5c. 佐藤 健 answers the engraving question in the chat"
control POST /control/messages "{\"order_id\":\"$o2\",\"text\":\"KEN & AYA 2026.12.24\"}" > /dev/null
echo "   buyer writes: KEN & AYA 2026.12.24"
for _ in $(seq 100); do
  control GET '/control/messages?sender=SHOP' | jq -e '[.messages[] | select(.text | contains("KEN & AYA"))] | length > 0' > /dev/null && break
  sleep 0.2
done
ctl buyer export --order "$o2" |
  jq -r '.answers[] | "   kept on order \(.order_id): order.attributes.\(.attribute) = \(.value) (rule \(.rule_id))"'
echo "   (the message was linked to the buyer's only open order; the 24 h reminder now finds the answer and stays quiet)"

say "5d. A buyer asks to cancel an order that is ready to ship"
o5=$(new_order '{"buyer_name":"高橋 美咲","line_items":[{"seller_sku":"TOTE-02","product_name":"帆布トートバッグ","sale_price":"3600"}]}')
for s in ON_HOLD AWAITING_SHIPMENT; do control POST "/control/orders/$o5/status" "{\"status\":\"$s\"}" > /dev/null; done
control POST "/control/orders/$o5/cancel_request" '{"reason":"注文を間違えました"}' > /dev/null
echo "   $o5 高橋 美咲: paid, then asks TikTok to cancel (a type 11 webhook, CANCELLATION_REQUEST_PENDING by BUYER)"
for _ in $(seq 100); do
  ctl review list 2>/dev/null | grep -q cancel_requested && break
  sleep 0.2
done
ctl review list | grep cancel_requested | sed "s/^/   /" || true
echo "   (orderflow told staff and acknowledged the request to the buyer; accepting or refusing it stays with staff, on TikTok)"

say "6. Webhooks that arrived, what the rules did, and the sends (orderflowctl activity)"
ctl activity --limit 50 | sed 's/^/   /'

say "7. Messages the buyers received (the sandbox's record)"
control GET '/control/messages?sender=SHOP' |
  jq -r '.messages[] | "   to buyer \(.user_id):\n" + (.text | split("\n") | map("     | " + .) | join("\n"))'
total=$(control GET '/control/messages?sender=SHOP' | jq '.messages | length')
distinct=$(control GET '/control/messages?sender=SHOP' | jq '[.messages[] | .user_id + .text] | unique | length')
if [ "$total" = "$distinct" ]; then echo "   $total messages in all, none sent twice."; else echo "   $total messages but only $distinct distinct: something was sent twice!"; fi

echo "   redeliveries acknowledged and dropped: $(grep -c '"event":"webhook_duplicate"' "$work/orderflowd.log" || true)"

say "8. Status"
ctl status | sed 's/^/   /'
echo
echo "Logs: $work/orderflowd.log and $work/sandbox.log (JSON lines)."
