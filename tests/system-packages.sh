#!/usr/bin/env bash
# Debian's packages the tests need: a PostgreSQL server and Redis for the production-topology tests,
# and a headless Chromium (with a font, or screenshots show text as blank boxes) for the browser tests.
# Installs only what is missing, and keeps the packages' own services from starting: the tests
# start their own servers on free ports and stop them by process id.
set -euo pipefail
need=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
[ -x /usr/lib/chromium/chromium ] || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    made_policy=1
fi
trap '[ -z "$made_policy" ] || $sudo rm -f "$policy"' EXIT
echo "installing ${need[*]} from Debian's packages"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
