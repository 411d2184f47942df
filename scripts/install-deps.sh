#!/usr/bin/env bash
# Installs the Debian 12 packages orderflow needs, only those missing.
# Idempotent: does nothing when everything is present. apt-get as root, sudo otherwise.
# With arguments, installs those packages instead (scripts/fuzz.sh passes
# the fuzzing toolchain, which only `make fuzz` needs).
set -euo pipefail
# The last two lines are for the tests: promtool (prometheus) lints GET
# /metrics; `make package` and tests/package need dpkg-shlibdeps (dpkg-dev)
# and file for cpack's Depends, lintian, and systemd for systemd-analyze,
# systemd-sysusers and systemd-tmpfiles. The staff console's browser test
# drives headless Chromium with Selenium (chromium, chromium-driver,
# python3-selenium; a Japanese font for its screenshots).
pkgs=(g++ cmake ninja-build ccache pkg-config curl sqlite3
      libboost1.81-dev libsqlite3-dev nlohmann-json3-dev libsodium-dev libssl-dev
      catch2 libre2-dev openssl ca-certificates jq
      prometheus
      dpkg-dev file lintian systemd
      chromium chromium-driver python3-selenium fonts-ipafont-gothic)
if [ $# -gt 0 ]; then pkgs=("$@"); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
