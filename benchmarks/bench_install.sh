#!/usr/bin/env bash
# Time a non-editable install of the base package vs with the `local` extra, each into a fresh venv.
# pip's cache is used where it has the wheels (nothing is built); run from the repository root.
set -euo pipefail
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PY -m pip wheel --quiet --no-deps . -w "$work/dist" >/dev/null 2>&1
wheel=$(ls "$work"/dist/modelplane-*.whl)
for target in "$wheel" "$wheel[local]" "$wheel[local,aws,gcp]"; do
  $PY -m venv "$work/venv"
  start=$(date +%s.%N)
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check "$target"
  end=$(date +%s.%N)
  n=$("$work/venv/bin/pip" list --format=freeze 2>/dev/null | wc -l)
  size=$(du -sm "$work/venv" | cut -f1)
  printf '%-28s %6.1f s  %3d packages  %5d MB   load: %s\n' "${target##*/}" "$(echo "$end - $start" | bc)" "$n" "$size" "$(uptime | sed 's/.*load average: //')"
  rm -rf "$work/venv"
done
