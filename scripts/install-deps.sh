#!/usr/bin/env bash
# Installs what Vahti's tests and tools need on a Debian box, from Debian's
# own packages: ffmpeg (ffprobe, and the benchmark peer), chromium and its
# driver (the real-browser test), openssh-client (ssh-keygen -Y verify for
# export signatures), prometheus (promtool checks the shipped alert rules),
# systemd (systemd-analyze verifies the unit). Go itself comes from the machine (go.mod names the version).
set -euo pipefail

need=()
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
command -v losetup >/dev/null 2>&1 || need+=(mount)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)

if [ ${#need[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
# de-duplicate
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "install-deps: installing ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}"
