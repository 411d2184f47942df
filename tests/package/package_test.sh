#!/usr/bin/env bash
# The Debian package, as `make package` makes it: packs the already-built
# build tree with cpack (into a scratch folder, leaving build/ alone), checks
# the package's metadata and contents (paths, modes, conffiles, Depends, no
# sandbox), runs lintian (no errors allowed), installs it with dpkg into a
# scratch root with its own dpkg database, runs the maintainer scripts there,
# and checks that the installed orderflowctl passes `check` on the installed
# example config, and that remove and purge leave what they should.
#
# dpkg installs into the scratch root for real (--root, --admindir in it),
# with these forces, each needed only because the root is a scratch folder:
#   --force-not-root           the test may run as any user;
#   --force-script-chrootless  the maintainer scripts run here, not chrooted
#                              (the scratch root has no shell); dpkg sets
#                              $DPKG_ROOT and the scripts act on that root;
#   --force-depends            the scratch root's dpkg database is empty, so
#                              no dependency is installed there.
# Run as root, the postinst really makes /var/lib/orderflow belong to the
# orderflow user of the scratch root's /etc/passwd, and the test checks it;
# as another user that chown fails (the postinst tolerates it, as debhelper's
# does) and only the modes are checked.
#
# A sanitized build (ORDERFLOW_SANITIZE) is not packaged: the test is skipped
# (exit 77, SKIP_RETURN_CODE in tests/package/CMakeLists.txt).
# Usage: package_test.sh SOURCE_DIR BUILD_DIR CPACK
set -euo pipefail
src=$1 build=$2 cpack=$3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8
unset CREDENTIALS_DIRECTORY

if grep -qE '^ORDERFLOW_(SANITIZE|FUZZ):BOOL=ON$' "$build/CMakeCache.txt"; then
    echo "skipped: a sanitized build is not packaged (make package builds build/)"
    exit 77
fi
for tool in dpkg-deb dpkg-shlibdeps lintian file systemd-sysusers systemd-tmpfiles; do
    command -v "$tool" > /dev/null || { echo "FAIL: $tool is missing; scripts/install-deps.sh installs it" >&2; exit 1; }
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/orderflow-package.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# ------------------------------------------------------------------ packing
(cd "$build" && "$cpack" -G DEB -B "$scratch/out") > "$scratch/cpack.log" 2>&1 || {
    cat "$scratch/cpack.log" >&2; echo "FAIL: cpack" >&2; exit 1; }
debs=("$scratch"/out/orderflow_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || { ls -l "$scratch/out" >&2; echo "FAIL: expected one orderflow_*.deb" >&2; exit 1; }
deb=${debs[0]}
echo "== $(basename "$deb")"

# ----------------------------------------------------------------- metadata
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = orderflow ] || fail "Package is '$(field Package)'"
# The version is the changelog's latest entry (cmake/packaging.cmake).
changelog_version=$(sed -n '1s/^orderflow (\([^)]*\)).*/\1/p' "$src/packaging/changelog")
[ "$(field Version)" = "$changelog_version" ] || fail "Version is '$(field Version)', packaging/changelog says '$changelog_version'"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture is '$(field Architecture)'"
depends=$(field Depends)
echo "Depends: $depends"
# dpkg-shlibdeps' share (the libraries the binaries link) and the declared rest.
for dep in libc6 'libstdc\+\+6' libssl3 libsodium23 libsqlite3-0 'libre2-[0-9]+' ca-certificates tzdata systemd; do
    echo "$depends" | grep -qE "(^|, |\| )$dep( |,|$)" || fail "Depends lacks $dep"
done
[ -n "$(field Maintainer)" ] || fail "no Maintainer"

# ----------------------------------------------------------------- contents
# "mode owner path" for every entry, without the leading "." of the path.
dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\./, "", p); print $1, $2, p }' > "$scratch/contents"
expect() {   # MODE PATH
    grep -qxF -e "$1 root/root $2" "$scratch/contents" || fail "no $2 with mode $1 owned by root in the package"
}
expect -rwxr-xr-x /usr/bin/orderflowd
expect -rwxr-xr-x /usr/bin/orderflowctl
expect -rw-r--r-- /lib/systemd/system/orderflow.service
expect -rw-r--r-- /usr/lib/sysusers.d/orderflow.conf
expect -rw-r--r-- /usr/lib/tmpfiles.d/orderflow.conf
expect -rw-r--r-- /etc/orderflow/orderflow.json
expected_conffiles=/etc/orderflow/orderflow.json
for f in "$src"/etc/orderflow/rules/*; do
    expect -rw-r--r-- "/etc/orderflow/rules/$(basename "$f")"
    expected_conffiles+=$'\n'"/etc/orderflow/rules/$(basename "$f")"
done
expect -rw-r--r-- /usr/share/orderflow/rules.schema.json
for f in "$src"/etc/orderflow/rules-tests/*; do expect -rw-r--r-- "/usr/share/orderflow/rules-tests/$(basename "$f")"; done
for f in copyright changelog.Debian.gz README.md; do expect -rw-r--r-- "/usr/share/doc/orderflow/$f"; done
for f in "$src"/docs/*.md; do expect -rw-r--r-- "/usr/share/doc/orderflow/docs/$(basename "$f")"; done
for f in "$src"/docs/console/*.png; do expect -rw-r--r-- "/usr/share/doc/orderflow/docs/console/$(basename "$f")"; done
expect -rw-r--r-- /usr/share/man/man1/orderflowd.1.gz
expect -rw-r--r-- /usr/share/man/man1/orderflowctl.1.gz
# Nothing else is executable, every folder is 0755, everything is root's.
awk '$1 ~ /^-..x/ && $3 !~ /^\/usr\/bin\/orderflow(d|ctl)$/ { print "unexpected executable: " $0 }
     $1 ~ /^d/ && $1 != "drwxr-xr-x" { print "folder mode: " $0 }
     $2 != "root/root" { print "not root'"'"'s: " $0 }' "$scratch/contents" > "$scratch/odd"
[ ! -s "$scratch/odd" ] || { cat "$scratch/odd" >&2; fail "unexpected modes or owners"; }
# Not the sandbox, nothing under /usr/local or /usr/etc, no state shipped
# (the postinst makes /var/lib/orderflow with its owner).
if grep -E 'sandbox|^[^ ]+ [^ ]+ /(usr/local|usr/etc|var)/' "$scratch/contents"; then fail "the package holds the above"; fi

# ------------------------------------------------- control: conffiles, scripts
dpkg-deb -e "$deb" "$scratch/control"
if ! diff <(sort "$scratch/control/conffiles") <(echo "$expected_conffiles" | sort); then
    fail "conffiles differ from the example config and rules (< package, > expected)"
fi
# Every file in /etc is a conffile.
awk '$1 ~ /^-/ && $3 ~ /^\/etc\// { print $3 }' "$scratch/contents" | sort > "$scratch/etc-files"
diff "$scratch/etc-files" <(sort "$scratch/control/conffiles") > /dev/null || fail "files in /etc that are not conffiles: $(comm -23 "$scratch/etc-files" <(sort "$scratch/control/conffiles"))"
for s in postinst prerm postrm; do
    [ "$(stat -c %a "$scratch/control/$s")" = 755 ] || fail "$s has mode $(stat -c %a "$scratch/control/$s")"
done
# The service is never enabled or started by the package, only restarted
# after an upgrade if it runs (try-restart).
# (Commands only: the next-steps text it prints names `systemctl enable`.)
if grep -nE '^[[:space:]]*(systemctl|deb-systemd-invoke|deb-systemd-helper)[[:space:]](.*[[:space:]])?(enable|start|restart|reenable)([[:space:]]|$)' "$scratch/control/postinst"; then
    fail "the postinst enables or starts the service (lines above)"
fi

# ------------------------------------------------------------------ lintian
echo "== lintian"
# Warnings are printed, errors fail the test (--fail-on error).
if ! lintian --fail-on error "$deb" 2>&1 | tee "$scratch/lintian.log"; then
    fail "lintian reports errors"
fi
grep -q '^E: ' "$scratch/lintian.log" && fail "lintian reports errors"

# -------------------------------------------------------- install with dpkg
echo "== dpkg --root into a scratch root"
root=$scratch/root
admin=$root/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers"
touch "$admin/status" "$admin/available"
dpkg_root() {
    dpkg --root="$root" --admindir="$admin" --log=/dev/null \
         --force-not-root --force-script-chrootless --force-depends "$@"
}
# The maintainer scripts must act on $DPKG_ROOT only: this machine's users
# and folders stay as they were.
host_before=$(cat /etc/passwd /etc/group | sha256sum)
host_state_before=$(ls -d /var/lib/orderflow /etc/orderflow/secrets 2>/dev/null || true)
dpkg_root -i "$deb" 2>&1 | tee "$scratch/dpkg.log" | grep -v 'dependency problems\|depends on\|is not installed' || true
[ "$(dpkg-query --admindir="$admin" -W -f='${Status}' orderflow)" = "install ok installed" ] || { cat "$scratch/dpkg.log" >&2; fail "dpkg did not install the package"; }
grep -q 'not enabled or started' "$scratch/dpkg.log" || fail "the postinst printed no next steps"

# The user and group (sysusers.d), the folders (tmpfiles.d).
passwd_line=$(grep '^orderflow:' "$root/etc/passwd" || true)
[ -n "$passwd_line" ] || fail "the postinst made no orderflow user in the scratch root"
grep -q '^orderflow:' "$root/etc/group" || fail "the postinst made no orderflow group in the scratch root"
[ "$(echo "$passwd_line" | cut -d: -f7)" = /usr/sbin/nologin ] || fail "orderflow's shell: $passwd_line"
[ "$(stat -c %a "$root/var/lib/orderflow")" = 750 ] || fail "/var/lib/orderflow has mode $(stat -c %a "$root/var/lib/orderflow")"
[ "$(stat -c %a "$root/etc/orderflow/secrets")" = 700 ] || fail "/etc/orderflow/secrets has mode $(stat -c %a "$root/etc/orderflow/secrets")"
if [ "$(id -u)" -eq 0 ]; then
    uid=$(echo "$passwd_line" | cut -d: -f3) gid=$(echo "$passwd_line" | cut -d: -f4)
    for d in var/lib/orderflow etc/orderflow/secrets; do
        [ "$(stat -c %u:%g "$root/$d")" = "$uid:$gid" ] || fail "/$d belongs to $(stat -c %u:%g "$root/$d"), not orderflow ($uid:$gid)"
    done
else
    echo "not root: the owner of /var/lib/orderflow is not checked (the postinst cannot chown here)"
fi
[ "$(cat /etc/passwd /etc/group | sha256sum)" = "$host_before" ] || fail "the maintainer scripts changed this machine's /etc/passwd or /etc/group"
[ "$(ls -d /var/lib/orderflow /etc/orderflow/secrets 2>/dev/null || true)" = "$host_state_before" ] || fail "the maintainer scripts made folders on this machine"

# Stripped binaries that start with the libraries dpkg-shlibdeps named.
for b in orderflowd orderflowctl; do
    file -b "$root/usr/bin/$b" | grep -q ', stripped' || fail "$b is not stripped: $(file -b "$root/usr/bin/$b")"
done
set +e
"$root/usr/bin/orderflowd" > /dev/null 2>&1; rc=$?
set -e
[ $rc -eq 2 ] || fail "orderflowd without arguments exited $rc, not 2 (usage)"

# ---------------------------------------- check the installed example config
echo "== orderflowctl check on the installed example config"
# What the operator does after installing (docs/operations.md): the secrets
# the example config names as credential:NAME, in secrets/ next to the config
# (where orderflowctl reads them when $CREDENTIALS_DIRECTORY is not set), and
# a vault key from keygen. Made by the user running the test, who reads
# them; on a machine, the orderflow user. The config is used as installed:
# `check` reads the rules next to it; storage.path and admin.socket
# (/var/lib/orderflow, /run/orderflow) are this machine's paths, which check
# only validates and, for the database, looks at if it exists.
ctl=$root/usr/bin/orderflowctl
secrets=$root/etc/orderflow/secrets
(umask 077
 head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secrets/app_secret"
 head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secrets/admin_token")
"$ctl" keygen "$secrets/vault_key"
if ! "$ctl" check --config "$root/etc/orderflow/orderflow.json" | tee "$scratch/check.log"; then
    fail "orderflowctl check refuses the installed example config"
fi
grep -q "^ok: $root/etc/orderflow/orderflow.json" "$scratch/check.log" || fail "check did not say ok"
# The shipped fixture tests pass against the installed rules, as the man page says.
"$ctl" rules test "$root"/usr/share/orderflow/rules-tests/*.json --rules "$root/etc/orderflow/rules" > "$scratch/rules-test.log" 2>&1 \
    || { cat "$scratch/rules-test.log" >&2; fail "the installed rule fixtures fail against the installed rules"; }

# ------------------------------------------------------- remove, then purge
echo "== dpkg --remove, then --purge"
echo "// the operator's edit" >> "$root/etc/orderflow/orderflow.json"
touch "$root/var/lib/orderflow/orderflow.db"
dpkg_root --remove orderflow > "$scratch/remove.log" 2>&1 || { cat "$scratch/remove.log" >&2; fail "dpkg --remove"; }
[ ! -e "$root/usr/bin/orderflowd" ] || fail "remove left /usr/bin/orderflowd"
grep -q "the operator's edit" "$root/etc/orderflow/orderflow.json" || fail "remove did not keep the edited config"
[ -e "$root/var/lib/orderflow/orderflow.db" ] && [ -e "$secrets/vault_key" ] || fail "remove did not keep the database and the secrets"
dpkg_root --purge orderflow > "$scratch/purge.log" 2>&1 || { cat "$scratch/purge.log" >&2; fail "dpkg --purge"; }
for gone in var/lib/orderflow etc/orderflow lib/systemd/system/orderflow.service; do
    [ ! -e "$root/$gone" ] || fail "purge left /$gone: $(ls -la "$root/$gone" 2>&1 | head -5)"
done
grep -q '^orderflow:' "$root/etc/passwd" || fail "purge removed the orderflow user (system users stay)"

if [ $failures -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "ok: $(basename "$deb") packs, passes lintian, installs, checks, removes and purges"
