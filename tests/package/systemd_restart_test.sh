#!/usr/bin/env bash
# Holds systemd/orderflow.service to a restart policy that ends: with
# Restart=, a start that fails every time must reach the start limit and
# leave the unit "failed" (where OnFailure= and monitoring see it) rather
# than respawn every RestartSec= forever. It does when StartLimitBurst=
# starts, RestartSec= apart, fit in StartLimitIntervalSec= (systemd counts
# starts in windows of that length). systemd's defaults (10 s, 5 starts)
# never fit with RestartSec=5s, so the unit must set both in [Unit].
# Usage: systemd_restart_test.sh UNIT_FILE
set -euo pipefail
unit=$1

# The value of KEY in [SECTION], the last one set (as systemd reads it).
setting() {
    awk -v section="[$1]" -v key="$2" '
        /^\[/ { in_section = ($0 == section); next }
        in_section && index($0, key "=") == 1 { value = substr($0, length(key) + 2) }
        END { print value }' "$unit"
}

# A time span in whole seconds: "300", "5s", "5sec", "5min", "5m" or "500ms".
seconds() {
    case $1 in
        *ms) echo $(( ${1%ms} / 1000 )) ;;
        *min) echo $(( ${1%min} * 60 )) ;;
        *m) echo $(( ${1%m} * 60 )) ;;
        *sec) echo "${1%sec}" ;;
        *s) echo "${1%s}" ;;
        *[!0-9]*) echo "FAIL: cannot read the time span '$1'" >&2; exit 1 ;;
        *) echo "$1" ;;
    esac
}

restart=$(setting Service Restart)
if [ -z "$restart" ] || [ "$restart" = no ]; then
    echo "ok: no Restart=, nothing to limit"
    exit 0
fi
if [ -n "$(setting Service StartLimitIntervalSec)$(setting Service StartLimitBurst)$(setting Service StartLimitInterval)" ]; then
    echo "FAIL: $unit sets the start limit in [Service]; it belongs in [Unit]" >&2
    exit 1
fi
interval=$(setting Unit StartLimitIntervalSec)
burst=$(setting Unit StartLimitBurst)
restart_sec=$(setting Service RestartSec)
interval=$(seconds "${interval:-10}")   # systemd's DefaultStartLimitIntervalSec
burst=${burst:-5}                       # and DefaultStartLimitBurst
restart_sec=$(seconds "${restart_sec:-0}")   # the default is 100 ms
if [ "$interval" -eq 0 ]; then
    echo "FAIL: StartLimitIntervalSec=0 turns the start limit off: Restart=$restart respawns forever" >&2
    exit 1
fi
# Starts that fail at once come restart_sec apart: the one after the
# burst-th, which the limit refuses, must still fall in the first start's
# window (systemd's windows are fixed, not sliding).
refused_at=$(( burst * restart_sec ))
if [ "$refused_at" -ge "$interval" ]; then
    echo "FAIL: $burst starts, ${restart_sec}s apart, never reach the limit within StartLimitIntervalSec=${interval}s:" \
         "a unit that fails to start is restarted forever and never becomes failed" >&2
    exit 1
fi
echo "ok: a start failing every time is tried $burst times, ${restart_sec}s apart; the next, at ${refused_at}s of a ${interval}s window, leaves the unit failed"
