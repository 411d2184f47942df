#!/bin/sh
# The postinst after an upgrade (packaging/postinst): a running orderflowd is
# restarted onto the new binaries only when the new orderflowctl check accepts
# the config and rules in place; otherwise it is left running and the errors
# are printed. A first install and a stopped service are not restarted.
#
# The script runs as dpkg runs it (`postinst configure OLD_VERSION`) with
# systemctl, deb-systemd-invoke, runuser, systemd-sysusers and
# systemd-tmpfiles replaced by stubs that log their arguments; runuser runs
# the built orderflowctl on a copy of the shipped config and rules. The
# postinst acts on systemd only when /run/systemd/system exists, so each run
# is in a private mount namespace with a tmpfs there (unshare); where user
# namespaces are not allowed the test is skipped (exit 77).
#
# usage: postinst_upgrade_test.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1
build=$2
ctl=$build/bin/orderflowctl
[ -x "$ctl" ] || { echo "no $ctl: build first" >&2; exit 1; }

if ! unshare --mount --map-root-user sh -c 'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system' 2>/dev/null; then
    echo "skipped: cannot make a private mount namespace here (unshare --mount --map-root-user)"
    exit 77
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# The operator's config and rules: the shipped example, with its secrets.
conf=$scratch/etc/orderflow
mkdir -p "$conf/secrets"
cp "$src/etc/orderflow/orderflow.json" "$conf/"
cp -r "$src/etc/orderflow/rules" "$conf/rules"
(umask 077
 echo app-secret-for-the-test > "$conf/secrets/app_secret"
 echo admin-token-for-the-test > "$conf/secrets/admin_token")
"$ctl" keygen "$conf/secrets/vault_key" > /dev/null

stubs=$scratch/stubs
mkdir -p "$stubs"
log=$scratch/calls.log
for name in systemd-sysusers systemd-tmpfiles deb-systemd-invoke; do
    printf '#!/bin/sh\necho "%s $*" >> "%s"\n' "$name" "$log" > "$stubs/$name"
done
# systemctl: is-active answers from $ACTIVE (0 running, 3 stopped).
cat > "$stubs/systemctl" <<EOF
#!/bin/sh
echo "systemctl \$*" >> "$log"
case "\$*" in *is-active*) exit "\${ACTIVE:-0}" ;; esac
exit 0
EOF
# runuser -u USER -- COMMAND...: the command, with the installed paths
# swapped for the built orderflowctl and the copied config.
cat > "$stubs/runuser" <<EOF
#!/bin/sh
echo "runuser \$*" >> "$log"
while [ "\$1" != "--" ]; do shift; done
shift
cmd=\$1
shift
[ "\$cmd" = /usr/bin/orderflowctl ] || { echo "runuser stub: unexpected \$cmd" >&2; exit 1; }
set -- \$(echo "\$*" | sed "s#/etc/orderflow/orderflow.json#$conf/orderflow.json#")
exec "$ctl" "\$@"
EOF
chmod +x "$stubs"/*

# postinst ARGS... with $ACTIVE in the environment; output in $scratch/out, calls in $log.
run_postinst() {
    : > "$log"
    set +e
    unshare --mount --map-root-user sh -c '
        mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system &&
        PATH="$0:$PATH" exec sh "$1" configure "$2"' "$stubs" "$src/packaging/postinst" "$1" > "$scratch/out" 2>&1
    rc=$?
    set -e
    [ $rc -eq 0 ] || fail "the postinst exited $rc: $(cat "$scratch/out")"
}

echo "== an upgrade with a running daemon and rules the new version accepts: restarted"
export ACTIVE=0
run_postinst 0.9
grep -q '^runuser -u orderflow -- /usr/bin/orderflowctl check --config /etc/orderflow/orderflow.json$' "$log" \
    || fail "check was not run as orderflow: $(cat "$log")"
grep -q '^deb-systemd-invoke try-restart orderflow.service$' "$log" || fail "not restarted: $(cat "$log")"

echo "== an upgrade with rules the new version refuses: left running, the errors printed"
sed -i 's/"DELIVERED"/"DELIVERD"/' "$conf/rules/10-order-flow.json"
grep -q DELIVERD "$conf/rules/10-order-flow.json" || fail "the test's edit of the rules did not happen"
run_postinst 0.9
if grep -q 'deb-systemd-invoke' "$log"; then fail "restarted although check refuses the rules: $(cat "$log")"; fi
grep -q 'error: rule "thanks-delivered": order.status is never "DELIVERD"' "$scratch/out" || fail "check's error not printed: $(cat "$scratch/out")"
grep -q 'was NOT restarted' "$scratch/out" || fail "the operator is not told: $(cat "$scratch/out")"

echo "== an upgrade with the service stopped: nothing checked or restarted"
export ACTIVE=3
run_postinst 0.9
if grep -q 'runuser\|deb-systemd-invoke' "$log"; then fail "acted on a stopped service: $(cat "$log")"; fi

echo "== a first install: nothing checked or restarted, next steps printed"
export ACTIVE=0
run_postinst ""
if grep -q 'runuser\|deb-systemd-invoke' "$log"; then fail "acted on a first install: $(cat "$log")"; fi
grep -q 'not enabled or started' "$scratch/out" || fail "no next steps: $(cat "$scratch/out")"

if [ $failures -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "ok: the postinst restarts after an upgrade only what the new check accepts"
