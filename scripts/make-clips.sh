#!/usr/bin/env bash
# make-clips.sh — generate the sample clips the simulated cameras (recorder/fakecam) loop.
#
#   scripts/make-clips.sh                 # rewrite the small committed clips in recorder/fakecam/clips/
#   scripts/make-clips.sh --bench DIR     # also write large benchmark clips into DIR (never commit these)
#
# Every clip is fragmented MP4 (moov first, one fragment per keyframe) so that
# fakecam can read it with mediacommon's fmp4 package. Small clips: 4 s, 25 fps,
# closed 1 s GOP (keyframe every 25 frames), a moving test pattern with the frame
# number and clip time burned in, and a mono AAC sine track (fakecam only sends
# it with --audio aac). The frame counter restarting at 0 in a recording is how
# a viewer sees the loop boundary.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/recorder/fakecam/clips"
bench=""
while [ $# -gt 0 ]; do
	case "$1" in
	--bench) bench="${2:?--bench needs a directory}"; shift 2 ;;
	--out) out="${2:?--out needs a directory}"; shift 2 ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "make-clips.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
command -v ffmpeg >/dev/null || { echo "make-clips.sh: ffmpeg not found" >&2; exit 1; }
mkdir -p "$out"

font=""
for f in /usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf; do
	[ -f "$f" ] && { font=$f; break; }
done

# overlay LABEL: drawtext with the label, the frame number and the clip time, when drawtext and a font exist.
overlay() {
	if [ -n "$font" ] && ffmpeg -hide_banner -filters 2>/dev/null | grep -q ' drawtext '; then
		printf '%s' ",drawtext=fontfile=$font:fontsize=18:fontcolor=white:box=1:boxcolor=black@0.6:x=6:y=6:text='$1 frame %{frame_num} t=%{pts\\:hms}'"
	fi
}

# make_non_negative: without it the AAC priming delay stretches the first video frame.
# negative_cts_offsets: writes trun version 1, whose (signed) composition offsets
# mediacommon reads; it ignores the version 0 ones, losing B-frame PTS.
# One encoder thread and bitexact make the encoded frames repeatable; the
# muxed files can still differ between runs (ffmpeg reads the two lavfi inputs
# in parallel, so audio may land in a different fragment). Commit regenerated
# clips only when something changed on purpose.
exact=(-threads 1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)
frag=(-avoid_negative_ts make_non_negative -movflags +frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets -f mp4)
audio=(-f lavfi -i "sine=frequency=440:sample_rate=16000:duration=4")
aenc=(-c:a aac -b:a 24k -ac 1 -ar 16000)

# small VIDEO_CODEC SIZE NAME EXTRA_ENCODER_ARGS... — one committed 4 s clip.
small() {
	local codec=$1 size=$2 name=$3; shift 3
	echo "make-clips: $name ($codec $size)" >&2
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=$size:rate=25:duration=4$(overlay "$name")" "${audio[@]}" \
		-map 0:v -map 1:a -pix_fmt yuv420p -c:v "$codec" "$@" "${aenc[@]}" "${exact[@]}" \
		-t 4 "${frag[@]}" "$out/$name.mp4"
}

x264=(-preset veryfast -profile:v main -b:v 250k -maxrate 300k -bufsize 300k -g 25 -keyint_min 25 -sc_threshold 0 -bf 0
	-x264-params "open-gop=0:repeat-headers=0")
x264b=(-preset veryfast -profile:v main -b:v 250k -maxrate 300k -bufsize 300k -g 25 -keyint_min 25 -sc_threshold 0 -bf 2
	-x264-params "open-gop=0:b-pyramid=none")
x265=(-preset veryfast -b:v 200k -tag:v hvc1 -x265-params "log-level=error:pools=none:frame-threads=1:keyint=25:min-keyint=25:scenecut=0:bframes=0:open-gop=0:repeat-headers=0")

small libx264 320x240 h264 "${x264[@]}"
small libx264 320x240 h264-bframes "${x264b[@]}"
small libx264 352x288 h264-alt "${x264[@]}"
small libx265 320x240 h265 "${x265[@]}"
small libx265 352x288 h265-alt "${x265[@]}"
ls -l "$out" >&2

if [ -n "$bench" ]; then
	mkdir -p "$bench"
	# bench SIZE BITRATE NAME — 20 s, 25 fps, 2 s GOP, H.264 (plus AAC so --audio aac works too).
	benchclip() {
		echo "make-clips: $3 ($1 @ $2)" >&2
		ffmpeg -hide_banner -loglevel error -y \
			-f lavfi -i "testsrc2=size=$1:rate=25:duration=20$(overlay "$3")" \
			-f lavfi -i "sine=frequency=440:sample_rate=16000:duration=20" \
			-map 0:v -map 1:a -pix_fmt yuv420p -c:v libx264 -preset veryfast -profile:v high \
			-b:v "$2" -maxrate "$2" -bufsize "$2" -g 50 -keyint_min 50 -sc_threshold 0 -bf 0 \
			-x264-params "open-gop=0" "${aenc[@]}" -shortest "${frag[@]}" "$bench/$3.mp4"
	}
	benchclip 1280x720 2M bench-720p
	benchclip 1920x1080 4M bench-1080p
	ls -l "$bench" >&2
fi
