#!/usr/bin/env bash
# Install the Debian tools the interop tests use (7-Zip, age, DCMTK, dicom3tools,
# poppler, zbar, chromium, GNU time, libarchive bsdtar, Orthanc + its DICOMweb plugin, stunnel4: the HTTPS in
# front of the test Orthanc, whose own HTTPS crashes in Debian 12, docs/pacs.md). Only what is missing
# is installed.
# As root with apt-get: installs. Otherwise: says what is missing; the interop
# tests then skip with a reason (on CI, CI=true, they fail instead).
set -euo pipefail
pkgs=(dcmtk 7zip age dicom3tools poppler-utils zbar-tools libzbar0 chromium time libarchive-tools orthanc orthanc-dicomweb
      stunnel4)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "debian tools: all present"
  exit 0
fi
# orthanc's package starts a system service listening on every interface (DICOM 4242, HTTP 8042): the PACS
# tests start their own Orthancs in a private network namespace, so the service is kept from starting
# (policy-rc.d answers 101 "denied" during the install) and stopped/disabled if it runs anyway.
stop_orthanc_service() {
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    systemctl disable --now orthanc >/dev/null 2>&1 || true
  fi
  if [ -x /etc/init.d/orthanc ]; then /etc/init.d/orthanc stop >/dev/null 2>&1 || true; fi
  if command -v update-rc.d >/dev/null; then update-rc.d orthanc disable >/dev/null 2>&1 || true; fi
}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "debian tools: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  stop_orthanc_service
  echo "debian tools: installed"
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  sudo systemctl disable --now orthanc >/dev/null 2>&1 || true
else
  echo "debian tools missing (${missing[*]}): interop tests will be skipped off CI." >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
exit 0
