#!/usr/bin/env bash
# Time a non-editable install of the base package vs with extras, each into a fresh venv; run from the
# repository root. Default: from the package index (pip's cache is used where it has the wheels, so this
# is mostly resolving and index round trips). OFFLINE=1: every wheel is downloaded first into a wheelhouse
# and the timed installs read only it (--no-index), so the figures are the install work alone.
set -euo pipefail
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PY -m pip wheel --quiet --no-deps . -w "$work/dist" >/dev/null 2>&1
wheel=$(ls "$work"/dist/modelplane-*.whl)
from=()
if [ "${OFFLINE:-}" = 1 ]; then
  $PY -m pip download --quiet --disable-pip-version-check "$wheel[local,aws,gcp]" -d "$work/house" >/dev/null 2>&1
  from=(--no-index --find-links "$work/house")
fi
echo "installing $(basename "$wheel") ${OFFLINE:+(offline, from a wheelhouse)}"
for extras in "" "[local]" "[local,aws,gcp]"; do
  $PY -m venv "$work/venv"
  start=$(date +%s.%N)
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check "${from[@]}" "$wheel$extras" 2>/dev/null
  end=$(date +%s.%N)
  n=$("$work/venv/bin/pip" list --format=freeze 2>/dev/null | wc -l)
  size=$(du -sm "$work/venv" | cut -f1)
  printf 'modelplane%-17s %6.1f s  %3d packages  %5d MB   load: %s\n' "$extras" "$(echo "$end - $start" | bc)" "$n" "$size" "$(uptime | sed 's/.*load average: //')"
  rm -rf "$work/venv"
done
