#!/usr/bin/env bash
# Installs what Vahti's tests and tools need on a Debian box, from Debian's
# own packages: ffmpeg (ffprobe, and the benchmark peer), chromium and its
# driver (the real-browser test), openssh-client (ssh-keygen -Y verify for
# export signatures), prometheus (promtool checks the shipped alert rules),
# systemd (systemd-analyze verifies the unit), poppler-utils (pdftotext reads
# the refusal letter's PDF back), age (opens a passphrase-encrypted export
# package, as its recipient would; script from bsdutils gives it a
# terminal), GStreamer's rtsp-server with
# python3-gi and the plugins its test pipeline uses (an independent RTSP
# peer for the recorder's tests). Go itself comes from the machine (go.mod names the version).
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
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
command -v age >/dev/null 2>&1 || need+=(age)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" >/dev/null 2>&1 ||
  need+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp)
for el in videotestsrc:gstreamer1.0-plugins-base rtph264pay:gstreamer1.0-plugins-good \
          h264parse:gstreamer1.0-plugins-bad x264enc:gstreamer1.0-plugins-ugly; do
  gst-inspect-1.0 "${el%%:*}" >/dev/null 2>&1 || need+=("${el#*:}" gstreamer1.0-tools)
done

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
