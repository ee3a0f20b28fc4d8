#!/usr/bin/env bash
# Install the Debian tools the interop tests use (7-Zip, age, DCMTK, dicom3tools,
# poppler, zbar, chromium, GNU time, libarchive bsdtar). Only what is missing is installed.
# As root with apt-get: installs. Otherwise: says what is missing; the interop
# tests then skip with a reason (on CI, CI=true, they fail instead).
set -euo pipefail
pkgs=(dcmtk 7zip age dicom3tools poppler-utils zbar-tools libzbar0 chromium time libarchive-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "debian tools: all present"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "debian tools: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "debian tools: installed"
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "debian tools missing (${missing[*]}): interop tests will be skipped off CI." >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
exit 0
