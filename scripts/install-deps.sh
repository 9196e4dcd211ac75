#!/usr/bin/env bash
# Installs what building and testing radmark needs, and only what is
# missing, so it is cheap to run every time (make run, .ci/run).
#   - Debian packages: the C libraries of the cgo codecs (OpenJPEG, CharLS)
#     and the real peers the tests talk to (dcmtk, dicom3tools, pydicom,
#     nibabel, dcm2niix, gdcm tools, Chromium, Orthanc for benchmarks,
#     PostgreSQL if none is installed).
#   - npm modules of the web UI (ui/, needed to build) and of the
#     end-to-end test harness (e2e/), with npm ci when the lock file is
#     newer than what is installed.
# Usage: scripts/install-deps.sh [build|test]   (default test: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-test}"

build_pkgs=(gcc pkg-config libopenjp2-7-dev libcharls-dev)
# Node.js may come from elsewhere than Debian (npm 11 does): only ask apt
# for it when the commands are missing.
command -v node >/dev/null 2>&1 || build_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || build_pkgs+=(npm)
test_pkgs=(dcmtk dicom3tools python3-pydicom python3-nibabel python3-numpy dcm2niix
  libgdcm-tools openjph-tools chromium orthanc orthanc-dicomweb)
pkgs=("${build_pkgs[@]}")
[ "$what" = test ] && pkgs+=("${test_pkgs[@]}")
# PostgreSQL: a server is expected on 127.0.0.1:5432; install one only if
# the machine has none.
if [ "$what" = test ] && ! command -v pg_ctlcluster >/dev/null 2>&1 && ! command -v psql >/dev/null 2>&1; then
  pkgs+=(postgresql)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm_ci() { # dir: npm ci unless node_modules is up to date with the lock file
  if [ -f "$1/package-lock.json" ]; then
    if [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
      (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  fi
}
npm_ci ui

if [ "$what" = test ]; then
  # The Debian orthanc package may start a server on install; the
  # benchmarks run their own on other ports, so leave it be.
  if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  npm_ci e2e
fi
