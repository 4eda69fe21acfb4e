#!/bin/sh
# Make sure the system programs a build and its checks need are installed: Chromium (Marp's PDF
# export, the browser tests) and poppler-utils (pdfimages and pdftoppm for the PDF checks).
# As root this installs Debian's packages; otherwise it prints the command to run.
set -eu

missing=""
chromium_found=""
for candidate in "${CHROME_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    chromium_found=yes
    break
  fi
done
[ -n "$chromium_found" ] || missing="chromium"
command -v pdfimages >/dev/null 2>&1 || missing="$missing poppler-utils"

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages:$missing" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  exit 0
fi

echo "error: missing system packages:$missing. Install them with: sudo apt-get install$missing" >&2
echo "       (for Chromium you may instead set CHROME_PATH to a Chrome or Chromium binary)" >&2
exit 1
