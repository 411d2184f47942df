#!/usr/bin/env python3
"""Helpers for bench/ingest.sh and bench/backlog.sh (python3 standard library only).

Subcommands:
  free-port                      print a free TCP port on 127.0.0.1
  orders PORT COUNT OUT [ENG]    create COUNT orders in the sandbox (AWAITING_SHIPMENT, one new
                                 buyer each; a share ENG of them with an engraved SKU and no note)
                                 and write their ids to OUT, one a line
  stream ...                     write the pre-signed webhook stream (see `stream --help`)
  wrk-lua OUT                    write the wrk script that replays a stream file
  ack-check IDS DB ISSUED ACKED  compare the ids the stream acknowledged with the inbox
  drain DB ...                   watch the inbox and outbox until the stored events are processed
  deliver SANDBOX_PORT PORT ...  send the sandbox's waiting webhooks to orderflowd, many at once
  calls PORT                     per-API call rates and throttled answers from the sandbox's call log
  wrk-result FILE                the STREAM line of a wrk run as shell assignments

The scripts print; nothing here decides what is good or bad except
ack-check (MISMATCH) and calls (THROTTLED), which also set the exit status.
"""
import argparse
import collections
import hashlib
import hmac
import http.client
import json
import os
import random
import socket
import sqlite3
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def create_orders(port, count, out, eng_share):
    """Orders as a shop sees them after payment and the hold window: AWAITING_SHIPMENT.

    One keep-alive connection; the sandbox queues a type 1 webhook per order
    and sends it only once a target is set (backlog.sh) or never (ingest.sh)."""
    rng = random.Random(7)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    names = ["佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健太", "伊藤 さくら", "渡辺 翔"]
    ids = []
    started = time.time()
    for i in range(count):
        engraved = rng.random() < eng_share
        item = ({"seller_sku": "ENG-RING-01", "product_name": "刻印リング", "sale_price": "4980"} if engraved
                else {"seller_sku": "MUG-01", "product_name": "有田焼マグカップ", "sale_price": "2800"})
        order = {"buyer_name": names[i % len(names)], "user_id": str(7300000000000000000 + i),
                 "line_items": [item], "status": "AWAITING_SHIPMENT"}
        if not engraved:
            order["buyer_message"] = "よろしくお願いします"
        conn.request("POST", "/control/orders", json.dumps(order), {"content-type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"sandbox refused order {i}: HTTP {resp.status} {body[:200]!r}")
        ids.append(json.loads(body)["id"])
        if (i + 1) % 5000 == 0:
            print(f"   {i + 1} orders created", file=sys.stderr)
    with open(out, "w") as f:
        f.write("\n".join(ids) + "\n")
    print(f"   {count} orders created in {time.time() - started:.1f} s", file=sys.stderr)


def stream(args):
    """N type 1 webhooks with unique tts_notification_ids, plus a share of
    redeliveries (the same bytes again, a little later in the stream).

    Writes STREAM (one request a line: "<signature> <body>") and IDS (the
    notification id of each line, for ack-check)."""
    rng = random.Random(args.seed)
    secret = open(args.secret_file).read().strip().encode()
    orders = [line.strip() for line in open(args.orders) if line.strip()]
    base_time = int(time.time())
    entries = []   # (sort key, id, line)
    redelivered = set(rng.sample(range(args.webhooks), round(args.webhooks * args.redelivery_share)))
    for k in range(args.webhooks):
        nid = str(7400000000000000000 + k)
        body = json.dumps({"type": 1, "tts_notification_id": nid, "shop_id": args.shop_id,
                           "timestamp": base_time + k // 1000,
                           "data": {"order_id": orders[k % len(orders)], "order_status": "AWAITING_SHIPMENT",
                                    "update_time": base_time + k // 1000}},
                          separators=(",", ":"))
        sig = hmac.new(secret, args.app_key.encode() + body.encode(), hashlib.sha256).hexdigest()
        line = f"{sig} {body}"
        entries.append((k, nid, line))
        if k in redelivered:
            # TikTok redelivers when it saw no 200 in time: the same notification, later.
            entries.append((k + rng.randint(1, 2000) + 0.5, nid, line))
    entries.sort(key=lambda e: e[0])
    with open(args.out, "w") as f:
        for _, _, line in entries:
            f.write(line + "\n")
    with open(args.ids, "w") as f:
        for _, nid, _ in entries:
            f.write(nid + "\n")
    print(f"   stream: {len(entries)} requests, {args.webhooks} unique notification ids, "
          f"{len(redelivered)} redeliveries, over {len(orders)} sandbox orders", file=sys.stderr)


WRK_LUA = r'''-- Replays a pre-signed webhook stream (bench/tools.py stream): one request
-- per line "<signature> <body>", built once in init() with wrk.format and
-- cycled by request(). The file is read at run time: a generated table of
-- 200,000 literals would exceed LuaJIT's constants per function.
local reqs, n, i = {}, 0, 0
issued = 0        -- global, read by done() through thread:get

-- utime + stime of the whole wrk process, in clock ticks
local function cpu_ticks()
  local f = io.open("/proc/self/stat")
  local stat = f:read("*a")
  f:close()
  local fields = {}
  for x in stat:gsub("^.-%) ", ""):gmatch("%S+") do fields[#fields + 1] = x end
  return tonumber(fields[12]) + tonumber(fields[13])   -- fields 14 and 15 of proc(5)
end

function init(args)
  local path = args[2] or "/webhooks/tiktok"
  for line in io.lines(args[1]) do
    local sig, body = line:match("^(%x+) (.*)$")
    n = n + 1
    reqs[n] = wrk.format("POST", path, {["Content-Type"] = "application/json", ["Authorization"] = sig}, body)
  end
  loaded_ticks = cpu_ticks()   -- init runs before the clock starts: loading is not the run's CPU
end

function request()
  i = i + 1
  if i > n then i = 1 end
  issued = issued + 1
  return reqs[i]
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local issued_total, loaded = 0, 0
  for _, t in ipairs(threads) do
    issued_total = issued_total + t:get("issued")
    loaded = math.max(loaded, t:get("loaded_ticks"))
  end
  local e = summary.errors
  io.write(string.format("STREAM issued=%d completed=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d max_us=%d cpu_ticks=%d\n",
    issued_total, summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), latency.max, cpu_ticks() - loaded))
end
'''


def wrk_lua(out):
    with open(out, "w") as f:
        f.write(WRK_LUA)


def wrk_result(path):
    for line in open(path):
        if line.startswith("STREAM "):
            for field in line.split()[1:]:
                k, v = field.split("=")
                print(f"w_{k}={v}")
            return
    sys.exit(f"no STREAM line in {path}: wrk did not finish")


def ro(db):
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def ack_check(ids_file, db, issued, acked):
    """Which unique ids were acknowledged, against the inbox.

    wrk reports how many requests it issued and how many got a 2xx, not which:
    with 32 connections the answers do not come back in the order sent. The
    requests issued are the stream's first `issued` lines (cycled); every one
    not acknowledged (in flight at the cut-off, or answered non-2xx) can hide
    at most one unique id. So the unique ids acknowledged lie in
    [U - (issued - acked), U], U the unique ids issued, and the inbox must hold
    every acknowledged id and nothing that was never sent."""
    ids = [line.strip() for line in open(ids_file)]
    sent = [ids[p % len(ids)] for p in range(issued)]
    sent_set = set(sent)
    upper = len(sent_set)
    lower = upper - (issued - acked)
    with ro(db) as c:
        stored = {row[0][4:] for row in c.execute("SELECT dedupe_key FROM inbox WHERE dedupe_key LIKE 'tts:%'")}
    extra = stored - sent_set
    ok = lower <= len(stored) <= upper and not extra
    print(f"   acknowledged: {acked} of {issued} requests sent (2xx); unique ids sent: {upper}, "
          f"of them acknowledged: {lower if lower == upper else f'{lower}..{upper}'}"
          f" ({issued - acked} requests unanswered or non-2xx)")
    print(f"   stored: {len(stored)} distinct notification ids in the inbox"
          f"{f', {len(extra)} of them never sent' if extra else ''}")
    if ok:
        print("   acknowledged vs stored: match (every acknowledged id is stored once; redeliveries stored once)")
    else:
        print("   " + "!" * 70)
        print(f"   MISMATCH: stored {len(stored)}, acknowledged unique ids {lower}..{upper}"
              f"{', stored ids that were never sent: ' + str(len(extra)) if extra else ''}")
        print("   " + "!" * 70)
        sys.exit(3)


def counts(c, where):
    # Only the webhooks' events by default: the rules' timers (shipping-sla,
    # 48 h ahead) are inbox rows too, pending until they are due.
    inbox = dict(c.execute(f"SELECT state, count(*) FROM inbox WHERE {where} GROUP BY state").fetchall())
    outbox = dict(c.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    sends = dict(c.execute("SELECT state, count(*) FROM outbox WHERE kind IN ('send_message','reply') GROUP BY state").fetchall())
    return inbox, outbox, sends


def drain(args):
    """Polls the database until every event stored from a webhook is finished
    (and, with --actions, every planned action too) or the limit passes.
    Prints progress every --every seconds and a summary as shell assignments
    on stdout; d_elapsed is the first poll (every --interval s) that saw it
    settled."""
    t0 = args.t0
    deadline = time.time() + args.limit
    last_print = time.time()
    expect = args.expect
    stored_at = finished_at = None
    while True:
        with ro(args.db) as c:
            inbox, outbox, sends = counts(c, args.where)
        now = time.time()
        stored = sum(inbox.values())
        finished = inbox.get("done", 0) + inbox.get("ignored", 0) + inbox.get("failed", 0)
        open_actions = sum(outbox.get(s, 0) for s in ("planned", "deferred", "sending"))
        sent = sends.get("done", 0)
        if args.progress and now - last_print >= args.every:
            last_print = now
            print(f"   {now - t0:6.0f} s: events stored {stored}, finished {finished}, pending {inbox.get('pending', 0)}; "
                  f"messages sent {sent}, actions waiting {open_actions}; load {open('/proc/loadavg').read().split()[0]}",
                  file=sys.stderr, flush=True)
        if stored_at is None and stored >= expect:
            stored_at = now
        if finished_at is None and stored >= expect and inbox.get("pending", 0) == 0:
            finished_at = now
        settled = finished_at is not None and (not args.actions or open_actions == 0)
        if settled or now > deadline:
            break
        time.sleep(args.interval)
    print(f"d_elapsed={now - t0:.3f}")
    print(f"d_stored_at={(stored_at or now) - t0:.3f}")
    print(f"d_finished_at={(finished_at or now) - t0:.3f}")
    print(f"d_settled={1 if settled else 0}")
    print(f"d_stored={stored}")
    print(f"d_finished={finished}")
    print(f"d_pending={inbox.get('pending', 0)}")
    print(f"d_done={inbox.get('done', 0)}")
    print(f"d_failed={inbox.get('failed', 0)}")
    print(f"d_sent={sent}")
    print(f"d_actions_open={open_actions}")
    print(f"d_actions=\"{' '.join(f'{k}:{v}' for k, v in sorted(outbox.items()))}\"")


def deliver(args):
    """Delivers the sandbox's waiting type 1 notifications to orderflowd from
    --concurrency connections at once, each once (retried on a non-200 as
    TikTok retries), as TikTok's redeliveries would arrive after an outage.
    The sandbox itself sends one at a time, each after the previous answer,
    which would spread a large backlog over minutes."""
    import threading
    secret = open(args.secret_file).read().strip().encode()
    hooks = [h for h in get_json(args.sandbox_port, "/control/webhooks")["webhooks"]
             if h["type"] == 1 and not h.get("delivered")]
    bodies = []
    for h in hooks:
        # The sandbox's body is nlohmann's dump: keys sorted, compact, UTF-8.
        body = json.dumps(h["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        bodies.append((body, hmac.new(secret, args.app_key.encode() + body, hashlib.sha256).hexdigest()))
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "retried": 0, "failed": 0}

    def worker():
        conn = None
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(bodies):
                break
            body, sig = bodies[i]
            for attempt in range(6):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
                    conn.request("POST", args.path, body, {"Content-Type": "application/json", "Authorization": sig})
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status == 200:
                        with lock:
                            state["ok"] += 1
                        break
                except (OSError, http.client.HTTPException):
                    conn = None
                with lock:
                    state["retried"] += 1
                time.sleep(0.5 * (attempt + 1))
            else:
                with lock:
                    state["failed"] += 1

    started = time.time()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - started
    print(f"   delivered {state['ok']} of {len(bodies)} webhooks in {took:.1f} s ({state['ok'] / took:.0f}/s, "
          f"{args.concurrency} connections), {state['retried']} retried, {state['failed']} given up", file=sys.stderr)
    if state["failed"]:
        sys.exit(3)


def get_json(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    return json.loads(resp.read())


def calls(port, limit):
    """Per API template: calls, the busiest 1-second bucket (the call log has
    whole seconds), the mean rate over the seconds the API was in use, against
    the limit; and every throttled answer (HTTP 429 or code 36009002)."""
    log = get_json(port, "/control/calls")["calls"]
    by_api = collections.defaultdict(list)
    for c in log:
        by_api[c["api"]].append(c)
    throttled = [c for c in log if c["http_status"] == 429 or c["code"] == 36009002]
    errors = collections.Counter((c["api"], c["http_status"], c["code"]) for c in log
                                 if c["code"] not in (0, None) or c["http_status"] not in (200,))
    print(f"   {'API (route template)':<62} {'calls':>6} {'busiest s':>9} {'mean/s':>7} {'median s':>8}  vs limit {limit}/s")
    binding = None
    rate_of = {}   # api -> (mean per second, median second)
    for api, cs in sorted(by_api.items(), key=lambda kv: -len(kv[1])):
        per_second = collections.Counter(c["time"] for c in cs)
        span = max(per_second) - min(per_second) + 1
        mean = len(cs) / span
        busiest = max(per_second.values())
        # The typical second while the API was in use (seconds without a call
        # inside the span count as 0): the steady pace, which a slow start or
        # tail pulls the mean away from.
        in_span = sorted(per_second.get(t, 0) for t in range(min(per_second), max(per_second) + 1))
        rate_of[api] = (mean, in_span[len(in_span) // 2])
        # Seconds at (or one short of) the limit: where the API, not the daemon, set the pace.
        saturated = sum(1 for n in per_second.values() if n >= limit - 1)
        print(f"   {api:<62} {len(cs):>6} {busiest:>9} {mean:>7.1f} {rate_of[api][1]:>8}  {100 * mean / limit:5.1f}% of the limit, "
              f"{saturated} s at it")
        if binding is None or len(cs) > len(by_api[binding]):
            binding = api
    if binding:
        cs = by_api[binding]
        mean, median = rate_of[binding]
        # orderflowd paces each API at 90% of the limit (daemon/api_options.cpp):
        # a typical second at that pace means the limit, as orderflowd keeps
        # under it, set the drain; the mean also counts the start and the tail.
        pace = 0.9 * limit
        verdict = (f"its median second ({median}) is at orderflowd's pace ({pace:.0f}/s, 90% of the limit): the rate limit binds"
                   if median >= pace - 1 else
                   f"its median second ({median}) is below orderflowd's pace ({pace:.0f}/s, 90% of the limit): "
                   f"orderflowd, not the limit, set the drain time")
        print(f"   the busiest API: {binding}: {len(cs)} calls, at least {len(cs) / limit:.0f} s at {limit}/s; "
              f"mean {mean:.1f}/s ({100 * mean / limit:.0f}% of the limit); {verdict}")
    for (api, status, code), n in sorted(errors.items(), key=lambda kv: -kv[1]):
        print(f"   non-success answers: {n} x HTTP {status} code {code} on {api}")
    print(f"   throttled answers (HTTP 429 or code 36009002): {len(throttled)}")
    if throttled:
        print("   " + "!" * 70)
        print(f"   THROTTLED: {len(throttled)} calls were refused by the rate limit")
        print("   " + "!" * 70)
        sys.exit(3)


def histogram_line(text, name, what):
    """One histogram of `orderflowctl metrics` (Prometheus text): how many
    observations, their mean, how many were over 10 and 50 ms, and the bucket
    of the slowest; None when it has none."""
    buckets, total, count = [], 0.0, 0
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), int(float(line.rsplit(" ", 1)[1]))))
        elif line.startswith(name + "_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith(name + "_count"):
            count = int(float(line.rsplit(" ", 1)[1]))
    if count == 0:
        return None
    def over(bound):  # observations above `bound` seconds (a bucket bound)
        return count - next(n for le, n in buckets if le >= bound)
    slowest_lo, slowest_hi = 0.0, buckets[0][0]
    for (lo, below), (hi, upto) in zip([(0.0, 0)] + buckets, buckets):
        if upto > below:
            slowest_lo, slowest_hi = lo, hi
    hi_text = "above" if slowest_hi == float("inf") else f"{slowest_hi * 1000:g} ms"
    return (f"   {what}: {count} (mean {total / count * 1000:.2f} ms); over 10 ms: {over(0.01)}, over 50 ms: {over(0.05)}; "
            f"the slowest between {slowest_lo * 1000:g} ms and {hi_text}")


def commit_times(text):
    """The inbox's group commits and the event loop's delays, from
    `orderflowctl metrics` (Prometheus text on stdin). A wrk p99 far above
    the rest of the run comes from one stalled commit (wrk's latency
    correction counts the requests a stall held back), and the commit line
    says whether the stall was the commit's (the disk's fsync). The loop
    line is a timer due every 50 ms and how late it ran: a long one held
    back the pipeline and the sends (a burst of sends after it is what
    TikTok's rate limit refuses)."""
    line = histogram_line(text, "orderflow_inbox_commit_seconds", "inbox commits")
    print(line or "   inbox commits: none in the metrics")
    line = histogram_line(text, "orderflow_event_loop_delay_seconds", "event loop delays (a timer every 50 ms)")
    if line:
        print(line)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port")
    o = sub.add_parser("orders")
    o.add_argument("port", type=int)
    o.add_argument("count", type=int)
    o.add_argument("out")
    o.add_argument("eng_share", type=float, nargs="?", default=0.0)
    s = sub.add_parser("stream")
    s.add_argument("--webhooks", type=int, required=True)
    s.add_argument("--redelivery-share", type=float, required=True)
    s.add_argument("--orders", required=True, help="file of sandbox order ids")
    s.add_argument("--shop-id", required=True)
    s.add_argument("--app-key", required=True)
    s.add_argument("--secret-file", required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", required=True)
    s.add_argument("--ids", required=True)
    w = sub.add_parser("wrk-lua")
    w.add_argument("out")
    r = sub.add_parser("wrk-result")
    r.add_argument("file")
    a = sub.add_parser("ack-check")
    a.add_argument("ids")
    a.add_argument("db")
    a.add_argument("issued", type=int)
    a.add_argument("acked", type=int)
    d = sub.add_parser("drain")
    d.add_argument("db")
    d.add_argument("--t0", type=float, required=True, help="unix time the run started")
    d.add_argument("--expect", type=int, default=0, help="wait until at least this many events are stored")
    d.add_argument("--actions", action="store_true", help="also wait until no action is planned, deferred or sending")
    d.add_argument("--limit", type=float, default=120)
    d.add_argument("--interval", type=float, default=0.25)
    d.add_argument("--every", type=float, default=10)
    d.add_argument("--progress", action="store_true")
    d.add_argument("--where", default="source = 'webhook'", help="which inbox rows count (SQL)")
    v = sub.add_parser("deliver")
    v.add_argument("sandbox_port", type=int)
    v.add_argument("port", type=int, help="orderflowd's webhook port")
    v.add_argument("--path", default="/webhooks/tiktok")
    v.add_argument("--app-key", required=True)
    v.add_argument("--secret-file", required=True)
    v.add_argument("--concurrency", type=int, default=16)
    c = sub.add_parser("calls")
    c.add_argument("port", type=int)
    c.add_argument("--limit", type=int, default=50)
    sub.add_parser("commit-times", help="read `orderflowctl metrics` on stdin")
    args = p.parse_args()
    if args.cmd == "free-port":
        free_port()
    elif args.cmd == "orders":
        create_orders(args.port, args.count, args.out, args.eng_share)
    elif args.cmd == "stream":
        stream(args)
    elif args.cmd == "wrk-lua":
        wrk_lua(args.out)
    elif args.cmd == "wrk-result":
        wrk_result(args.file)
    elif args.cmd == "ack-check":
        ack_check(args.ids, args.db, args.issued, args.acked)
    elif args.cmd == "drain":
        drain(args)
    elif args.cmd == "deliver":
        deliver(args)
    elif args.cmd == "calls":
        calls(args.port, args.limit)
    elif args.cmd == "commit-times":
        commit_times(sys.stdin.read())


if __name__ == "__main__":
    main()
