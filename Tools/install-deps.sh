#!/usr/bin/env bash
# Installs the Debian packages radb needs to build and test. Idempotent, non-interactive.
#   sudo bash Tools/install-deps.sh        (root needs no sudo)
set -euo pipefail
packages=(liblmdb-dev libopenblas-dev libsqlite3-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev pkg-config
          libheif-dev libtiff-dev libgif-dev libraw-dev   # HEIC/HEIF + AVIF (libheif with libde265, dav1d), TIFF, GIF, camera RAW
          dataset-fashion-mnist sqlite3)   # Fashion-MNIST for the training tests; sqlite3 for one CLI test
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "radb: system packages present: ${packages[*]}"
