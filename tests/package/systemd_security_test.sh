#!/usr/bin/env bash
# Holds systemd/orderflow.service to its hardening: `systemd-analyze security
# --offline=yes` rates the unit file without a running systemd, and the
# overall exposure must not rise above the value the unit reached when its
# hardening was last tightened (the comments in the unit say why each setting
# is there, and why the rest is left exposed). Lower `max` when the unit gets
# tighter. Also fails when systemd-analyze reports a line of the unit it does
# not understand (a misspelt setting would otherwise be silently ignored).
# Usage: systemd_security_test.sh UNIT_FILE
set -euo pipefail
unit=$1
max=1.2

if ! command -v systemd-analyze > /dev/null; then
    echo "systemd-analyze is missing: scripts/install-deps.sh installs it (package systemd)" >&2
    exit 1
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
# LC_ALL=C: the exposure is printed with the locale's decimal separator, and
# the report marks with ASCII ("- " exposed, "+ " not) rather than symbols.
report=$(LC_ALL=C systemd-analyze security --offline=yes "$unit" 2> "$err")
echo "$report" | grep -E '^(- |->)' || true
if grep -F "$unit:" "$err"; then
    echo "FAIL: systemd-analyze does not understand the lines above of $unit" >&2
    exit 1
fi
exposure=$(echo "$report" | sed -n 's/^-> Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
if [ -z "$exposure" ]; then
    echo "FAIL: no overall exposure in systemd-analyze's report" >&2
    cat "$err" >&2
    exit 1
fi
if awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e > m) }'; then
    echo "FAIL: $unit has exposure $exposure, above $max; the lines marked - above are what is exposed" >&2
    exit 1
fi
echo "ok: exposure $exposure (at most $max)"
