#!/usr/bin/env bash
# bench-recorder.sh — what recording costs per camera, from 8 to 128 cameras.
#
#   scripts/bench-recorder.sh [--duration 60] [--cameras "8 32 64 128"] [--profiles 1080p]
#                             [--ffmpeg-n 16] [--warmup 5] [--clips DIR] [--keep]
#   N_LIST="8 32" DURATION=30 FFMPEG_N= scripts/bench-recorder.sh   # quick look
#   SOURCE=gst N_LIST="8 32" scripts/bench-recorder.sh                # GStreamer as the cameras
#   SEALED=1 N_LIST=32 FFMPEG_N= scripts/bench-recorder.sh            # sealed segments (--sealed)
#
# Environment (each overrides the default of the flag beside it):
#   N_LIST    --cameras   camera counts to run, default "8 32 64 128"
#   DURATION  --duration  seconds measured per run, default 60
#   WARMUP    --warmup    seconds after every camera records, before measuring (5)
#   PROFILES  --profiles  720p and/or 1080p (default 1080p: 1920x1080 H.264
#                         ~4 Mbit/s, 25 fps, 2 s GOP; 720p is ~2 Mbit/s)
#   FFMPEG_N  --ffmpeg-n  the N of the comparison with one `ffmpeg -c copy -f
#                         segment` per camera (default 16; empty: skip it)
#   SEALED    --sealed    1: storage.encryption sealed (`vahti keys init` runs
#                         first; the frame count decrypts each file with
#                         `vahti cat --recovery-key-file`); default 0: off
#   SOURCE    fakecam (default: `vahti fakecam --count N --clip bench-<p>.mp4`,
#             which counts the frames it delivers) or gst (GStreamer's
#             rtsp-server, an independent peer: one shared live x264 stream
#             (noise, CBR at the profile's bitrate) that every camera reads;
#             the encoder needs about half a core; it counts nothing, so frames
#             lost are counted against the recorded span instead, see below)
#
# For every N, a fresh source and `vahti serve` (segment_duration 60s, TCP):
# once every camera records, plus WARMUP, for DURATION seconds the recorder
# process alone (never the source) is sampled:
#   CPU      utime+stime of the recorder (/proc/PID/stat): CPU-s per camera-minute
#            and as a fraction of one core (CPU-s / wall-s);
#   RSS      VmRSS once a second: average over the window ("steady") and peak, per camera;
#   write amplification  bytes the recorder wrote to disk (/proc/PID/io
#            write_bytes: segments, indexes, the registry) ÷ RTP bytes the
#            source delivered to it (fakecam --stats), over the whole run;
#   frames lost  frames the source delivered minus video frames found in the
#            segment files (ffprobe -count_packets on every file), per run;
#            with SOURCE=gst: 25 fps × the catalogued span minus the frames in
#            the files (a dropped frame leaves its gap covered by the frame
#            before it, so the span keeps its length).
# The source is then stopped first (SIGTERM: it stops sending, lets the queued
# packets drain, writes its counts), the recorder finishes its segments, and is
# stopped. A run whose recordings are missing fails. Loopback only. Needs go,
# ffmpeg, ffprobe, jq; SOURCE=gst needs /usr/bin/python3 with gi GstRtspServer.
set -euo pipefail

duration=${DURATION:-60}
cameras=${N_LIST:-"8 32 64 128"}
profiles=${PROFILES:-1080p}
warmup=${WARMUP:-5}
ffmpeg_n=${FFMPEG_N-16}
source=${SOURCE:-fakecam}
sealed=${SEALED:-0}
clips=""
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration="${2:?}"; shift 2 ;;
	--cameras) cameras="${2:?}"; shift 2 ;;
	--profiles) profiles="${2:?}"; shift 2 ;;
	--ffmpeg-n) ffmpeg_n="${2}"; shift 2 ;;
	--warmup) warmup="${2:?}"; shift 2 ;;
	--clips) clips="${2:?}"; shift 2 ;;
	--keep) keep=1; shift ;;
	--sealed) sealed=1; shift ;;
	-h|--help) sed -n '2,46p' "$0"; exit 0 ;;
	*) echo "bench-recorder: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
for t in go ffmpeg ffprobe jq awk; do
	command -v "$t" >/dev/null || { echo "bench-recorder: $t not found (scripts/install-deps.sh)" >&2; exit 1; }
done
case "$duration" in ''|*[!0-9]*) echo "bench-recorder: --duration must be whole seconds" >&2; exit 2 ;; esac
for n in $cameras $ffmpeg_n; do
	case "$n" in ''|*[!0-9]*|0) echo "bench-recorder: camera count $n is not a positive number" >&2; exit 2 ;; esac
done
for p in $profiles; do
	case "$p" in 720p|1080p) ;; *) echo "bench-recorder: --profiles: $p is not 720p or 1080p" >&2; exit 2 ;; esac
done
case "$source" in fakecam|gst) ;; *) echo "bench-recorder: SOURCE=$source is not fakecam or gst" >&2; exit 2 ;; esac
case "$sealed" in 0|1) ;; *) echo "bench-recorder: SEALED=$sealed is not 0 or 1" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/vahti-bench-rec.XXXXXX")
hz=$(getconf CLK_TCK)
pids=() # every process this script started, stopped on exit

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 1
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop PID...: SIGTERM (recorders finish their open segment on it), wait up to 20 s.
stop() {
	local p i
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for i in $(seq 200); do
		local alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

# cpu_ticks PID...: summed utime+stime. Fields counted after the ")" that ends
# the command name, so a name with spaces cannot shift them.
cpu_ticks() {
	local p s rest t=0
	for p in "$@"; do
		s=$(cat "/proc/$p/stat") || die "process $p is gone"
		rest=${s##*) }
		set -- $rest
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
rss_kib() {
	local p r=0 v
	for p in "$@"; do
		v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status") || die "process $p is gone"
		r=$((r + v))
	done
	echo "$r"
}
write_bytes() { awk '/^write_bytes:/{print $2}' "/proc/$1/io"; }

# measure LABEL PID...: sample for $duration s; sets m_cpu (CPU s), m_wall (s),
# m_rss_avg m_rss_peak (KiB, summed over the PIDs).
measure() {
	local label=$1; shift
	local c0 c1 t0 t1 i rss sum_r=0 peak=0 k=0
	c0=$(cpu_ticks "$@"); t0=$(date +%s.%N)
	for i in $(seq "$duration"); do
		sleep 1
		rss=$(rss_kib "$@")
		sum_r=$((sum_r + rss)); k=$((k + 1))
		if [ "$rss" -gt "$peak" ]; then peak=$rss; fi
	done
	c1=$(cpu_ticks "$@"); t1=$(date +%s.%N)
	m_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz}')
	m_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
	m_rss_avg=$((sum_r / k)); m_rss_peak=$peak
	log "$label: ${m_cpu} CPU-s in ${m_wall} s, RSS avg $((m_rss_avg / 1024)) MiB peak $((m_rss_peak / 1024)) MiB"
}

conf() { # conf DIR N URLFN
	local dir=$1 n=$2 urlfn=$3 i
	{
		echo "state_dir: $dir/state"
		echo "storage:"
		echo "  root: $dir/rec"
		echo "  segment_duration: 60s"
		if [ "$sealed" = 1 ]; then echo "  encryption: sealed"; else echo "  encryption: off"; fi
		echo "retention:"
		echo "  max_age: 1h"
		echo "admin:"
		echo "  listen: 127.0.0.1:0"
		echo "cameras:"
		for i in $(seq "$n"); do
			echo "  - id: $(cam "$i")"
			echo "    name: $(cam "$i")"
			echo "    purpose: benchmark"
			echo "    url: $("$urlfn" "$i")"
			echo "    transport: tcp"
		done
	} >"$dir/vahti.yaml"
}
cam() { printf 'cam%03d' "$1"; }

# start_source N PROFILE DIR: starts the cameras; sets src_pid and src_base.
start_source() {
	local n=$1 prof=$2 dir=$3 i
	if [ "$source" = gst ]; then
		gst_server "$prof" >"$dir/source.out" 2>"$dir/source.log" &
		src_pid=$!; pids+=("$src_pid")
		for i in $(seq 100); do [ -s "$dir/source.out" ] && break; sleep 0.1; done
		local port
		port=$(head -1 "$dir/source.out")
		[ -n "$port" ] || { cat "$dir/source.log" >&2; die "GStreamer rtsp-server did not start"; }
		src_base=rtsp://127.0.0.1:$port
		return
	fi
	"$vahti" fakecam --listen 127.0.0.1:0 --clip "$clips/bench-$prof.mp4" --count "$n" --stats "$dir/sent.json" \
		>"$dir/source.out" 2>"$dir/source.log" &
	src_pid=$!; pids+=("$src_pid")
	for i in $(seq 200); do [ "$(wc -l <"$dir/source.out")" -ge "$n" ] && break; sleep 0.1; done
	local first
	first=$(head -1 "$dir/source.out")
	[ -n "$first" ] || { cat "$dir/source.log" >&2; die "fakecam did not start"; }
	src_base=${first%/cam*}
}
fakecam_url() { echo "$src_base/$(cam "$1")"; }
gst_url() { echo "$src_base/cam"; }

# gst_server PROFILE: GStreamer's rtsp-server with one shared live stream of
# the profile (x264, 25 fps, 2 s GOP) that every camera reads.
gst_server() {
	local size=1920x1080 kbit=4000
	[ "$1" = 720p ] && size=1280x720 kbit=2000
	local w=${size%x*} h=${size#*x}
	cat >"$work/gst_bench_server.py" <<EOF
import gi
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
s = GstRtspServer.RTSPServer(); s.set_address("127.0.0.1"); s.set_service("0")
f = GstRtspServer.RTSPMediaFactory()
f.set_launch("( videotestsrc is-live=true pattern=snow ! video/x-raw,width=$w,height=$h,framerate=25/1 "
             "! x264enc tune=zerolatency speed-preset=ultrafast pass=cbr bitrate=$kbit key-int-max=50 "
             "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )")
f.set_shared(True)
s.get_mount_points().add_factory("/cam", f)
s.attach(None)
print(s.get_bound_port(), flush=True)
GLib.MainLoop().run()  # until SIGTERM
EOF
	exec /usr/bin/python3 "$work/gst_bench_server.py"
}

# wait_recording DIR N PID: until every camera records (60 s at most).
wait_recording() {
	local d=$1 n=$2 vp=$3 i rec=0
	for i in $(seq 90); do
		sleep 1
		kill -0 "$vp" 2>/dev/null || { tail -20 "$d/log" >&2; die "vahti serve exited"; }
		rec=$("$vahti" status --config "$d/vahti.yaml" --json 2>/dev/null |
			jq '[.cameras[] | select(.state == "recording")] | length' || echo 0)
		[ "$rec" = "$n" ] && { waited=$i; return; }
	done
	tail -20 "$d/log" >&2
	die "vahti: only $rec of $n cameras recording after 90 s"
}

# probe_frames FILE: ffprobe's video packet count and duration of a segment;
# a sealed one is decrypted first (vahti cat, with the run's recovery key).
probe_frames() {
	local f=$1 d=$2
	if [ "$sealed" = 1 ]; then
		local plain
		plain=$(mktemp "$d/plain.XXXXXX.mp4")
		"$vahti" cat --config "$d/vahti.yaml" --recovery-key-file "$d/recovery.key" "$f" >"$plain" ||
			{ rm -f "$plain"; echo "bench-recorder: vahti cat $f failed" >&2; return 1; }
		f=$plain
	fi
	ffprobe -v error -select_streams v:0 -count_packets \
		-show_entries stream=nb_read_packets:format=duration -of default=nw=1 "$f"
	if [ "$sealed" = 1 ]; then rm -f "$f"; fi
}

# frames_in_files DIR: "CAMERA FRAMES SECONDS" for every camera directory
# under DIR/rec: video frames and media duration summed over its files.
frames_in_files() {
	local root=$1/rec c
	export -f probe_frames
	export sealed vahti
	for c in "$root"/*/; do
		c=$(basename "$c")
		find "$root/$c" -name '*.mp4' -print0 |
			xargs -0 -r -I{} -P 2 bash -c 'probe_frames "$1" "$2"' _ {} "$1" |
			awk -F= -v c="$c" '$1 == "nb_read_packets" {f += $2} $1 == "duration" {d += $2} END {printf "%s %d %.3f\n", c, f, d}'
	done
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
log "building vahti"
(cd "$repo" && go build -o "$work/vahti" ./cmd/vahti)
vahti=$work/vahti
if [ -z "$clips" ]; then
	clips=$work/clips
	log "making the benchmark clips (about 30 s)"
	# --out keeps make-clips.sh from rewriting the committed small clips.
	"$repo/scripts/make-clips.sh" --out "$work/small-clips" --bench "$clips" 2>/dev/null
elif [ ! -f "$clips/bench-720p.mp4" ] || [ ! -f "$clips/bench-1080p.mp4" ]; then
	log "making the benchmark clips into $clips"
	"$repo/scripts/make-clips.sh" --out "$work/small-clips" --bench "$clips" 2>/dev/null
fi
if [ "$source" = gst ]; then
	/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" ||
		die "SOURCE=gst needs /usr/bin/python3 with gi GstRtspServer"
fi

# run_vahti N PROFILE: one measured run; appends a row to results.
results=()
run_vahti() {
	local n=$1 prof=$2
	local d=$work/vahti-$prof-$n
	mkdir -p "$d"
	start_source "$n" "$prof" "$d"
	local urlfn=fakecam_url
	[ "$source" = gst ] && urlfn=gst_url
	conf "$d" "$n" "$urlfn"
	if [ "$sealed" = 1 ]; then
		"$vahti" keys init --config "$d/vahti.yaml" --json 2>"$d/keys.log" | jq -r .recovery_key >"$d/recovery.key" ||
			{ cat "$d/keys.log" >&2; die "vahti keys init failed"; }
		chmod 600 "$d/recovery.key"
	fi
	"$vahti" serve --config "$d/vahti.yaml" >/dev/null 2>"$d/log" &
	local vp=$!; pids+=("$vp")
	wait_recording "$d" "$n" "$vp"
	log "vahti $prof N=$n ($source): all recording after ${waited}s; warm-up ${warmup}s, measuring ${duration}s"
	sleep "$warmup"
	local s_c0
	s_c0=$(cpu_ticks "$src_pid")
	measure "vahti $prof N=$n" "$vp"
	local src_cpu
	src_cpu=$(awk -v a="$s_c0" -v b="$(cpu_ticks "$src_pid")" -v hz="$hz" -v w="$m_wall" 'BEGIN{printf "%.2f", (b-a)/hz/w}')
	log "source ($source) used $src_cpu of one core meanwhile (not counted)"
	# Source first: it stops sending and reports; the recorder then sees
	# the end of every stream and finishes its segments.
	stop "$src_pid"
	local i
	for i in $(seq 200); do
		[ "$(find "$d/rec" -name '*.tmp' -printf x | wc -c)" = 0 ] && break
		sleep 0.1
	done
	local wb
	wb=$(write_bytes "$vp")
	rchar=$(awk '/^rchar:/{print $2}' "/proc/$vp/io")
	stop "$vp"
	"$vahti" status --config "$d/vahti.yaml" --json >"$d/status.json" 2>"$d/status.err" ||
		{ cat "$d/status.err" >&2; die "vahti status failed after the run"; }
	local segs tmps
	segs=$(jq '[.cameras[].catalog_segments] | add' "$d/status.json")
	[ "$segs" -ge "$n" ] || die "vahti $prof N=$n: only $segs segments catalogued for $n cameras"
	tmps=$(find "$d/rec" -name '*.tmp' -printf x | wc -c)
	[ "$tmps" = 0 ] || die "vahti $prof N=$n: $tmps unfinished segments left after a clean stop"
	frames_in_files "$d" >"$d/found.txt"
	local sent=0 found lost maxlost=0 rx srcdrop=0
	found=$(awk '{s += $2} END {print s + 0}' "$d/found.txt")
	if [ "$source" = gst ]; then
		# GStreamer counts nothing: 25 fps over each camera's recorded span,
		# and the bytes the recorder read (rchar: the RTSP connections, plus
		# its few file reads) for the bytes received.
		sent=$(awk '{s += int($3 * 25 + 0.5)} END {print s + 0}' "$d/found.txt")
		maxlost=$(awk '{d = int($3 * 25 + 0.5) - $2; if (d > m) m = d} END {print m + 0}' "$d/found.txt")
		rx=$rchar
	else
		[ -s "$d/sent.json" ] || die "fakecam wrote no --stats file"
		sent=$(jq '.frames' "$d/sent.json")
		rx=$(jq '.bytes' "$d/sent.json")
		srcdrop=$(jq '.dropped_packets // 0' "$d/sent.json")
		[ "$srcdrop" = 0 ] || log "WARNING: the fakecam dropped $srcdrop packets at full reader queues (the source, not the recorder, lost those frames; a starved machine)"
		maxlost=$(jq -r '.cameras[] | "\(.name) \(.frames)"' "$d/sent.json" |
			awk 'NR == FNR {f[$1] = $2; next} {d = $2 - f[$1]; if (d > m) m = d} END {print m + 0}' "$d/found.txt" -)
	fi
	lost=$((sent - found))
	[ "$found" -gt 0 ] || die "vahti $prof N=$n: no frames in the files"
	log "vahti $prof N=$n: $segs segments, frames sent $sent, in the files $found, lost $lost (worst camera $maxlost); wrote $wb bytes for $rx received"
	results+=("$n $prof $m_cpu $m_wall $m_rss_avg $m_rss_peak $wb $rx $sent $found $src_cpu $srcdrop")
	rm -rf "$d/rec"
}

for prof in $profiles; do
	for n in $cameras; do
		run_vahti "$n" "$prof"
	done
done

# The comparison with one ffmpeg per camera, same source, same N.
cmp=()
if [ -n "$ffmpeg_n" ]; then
	prof=${profiles%% *}
	n=$ffmpeg_n
	run_vahti "$n" "$prof"
	set -- ${results[-1]}
	v_cpm=$(awk -v c="$3" -v w="$4" -v n="$n" 'BEGIN{printf "%.4f", c / n / (w / 60)}')
	unset 'results[-1]'
	f=$work/ffmpeg-$prof-$n
	mkdir -p "$f"
	start_source "$n" "$prof" "$f"
	urlfn=fakecam_url
	[ "$source" = gst ] && urlfn=gst_url
	fps=()
	for i in $(seq "$n"); do
		ffmpeg -nostdin -loglevel error -rtsp_transport tcp -i "$("$urlfn" "$i")" -c copy \
			-f segment -segment_time 60 -reset_timestamps 1 "$f/$(cam "$i")-%03d.mp4" 2>>"$f/log" &
		fps+=($!); pids+=($!)
	done
	ok=0
	for i in $(seq 60); do
		sleep 1
		for p in "${fps[@]}"; do kill -0 "$p" 2>/dev/null || { tail -20 "$f/log" >&2; die "an ffmpeg exited"; }; done
		rec=$(find "$f" -name '*.mp4' -size +0 | wc -l)
		[ "$rec" -ge "$n" ] && { ok=1; break; }
	done
	[ "$ok" = 1 ] || die "ffmpeg: only $rec of $n cameras writing after 60 s"
	log "ffmpeg $prof N=$n: all writing after ${i}s; warm-up ${warmup}s, measuring ${duration}s"
	sleep "$warmup"
	measure "ffmpeg $prof N=$n" "${fps[@]}"
	f_cpm=$(awk -v c="$m_cpu" -v w="$m_wall" -v n="$n" 'BEGIN{printf "%.4f", c / n / (w / 60)}')
	f_rss=$(awk -v r="$m_rss_avg" -v n="$n" 'BEGIN{printf "%.1f", r / 1024 / n}')
	stop "${fps[@]}"
	stop "$src_pid"
	cmp=("$n" "$prof" "$v_cpm" "$f_cpm" "$f_rss")
	rm -f "$f"/*.mp4
fi

echo
seal_note=plain
[ "$sealed" = 1 ] && seal_note=sealed
echo "Recorder benchmark ($source source, $seal_note segments): ${duration}s measured per run after ${warmup}s warm-up; $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
echo "Load average at the start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows here)."
echo "CPU of the recorder process only. RSS per camera = VmRSS / N: steady = average of 1 s samples over the window, peak = largest sample."
echo "Write amp = bytes written to disk by the recorder (/proc/PID/io write_bytes) / RTP bytes the source delivered, whole run."
echo "Frames lost = frames the source delivered - video frames in the segment files (ffprobe), whole run."
echo "Source drops = packets the fakecam could not queue for its reader (its own losses on a starved machine; a dropped packet costs the frames up to the next keyframe)."
echo
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
	N profile "CPU-s / camera-min" "cores" "RSS MiB / camera (steady)" "(peak)" "write amp" "frames sent" "frames lost" "source cores" "source drops"
echo '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
for r in "${results[@]}"; do
	# shellcheck disable=SC2086
	set -- $r
	awk -v n="$1" -v prof="$2" -v c="$3" -v w="$4" -v ra="$5" -v rp="$6" -v wb="$7" -v rx="$8" \
		-v sent="$9" -v found="${10}" -v sc="${11}" -v sd="${12}" 'BEGIN{
		printf "| %d | %s | %.3f | %.3f | %.2f | %.2f | %s | %d | %d | %.2f | %d |\n",
			n, prof, c / n / (w / 60), c / w, ra / 1024 / n, rp / 1024 / n,
			(rx > 0 ? sprintf("%.3f", wb / rx) : "n/a"), sent, sent - found, sc, sd
	}'
done
# Linear scaling: per-camera cost at the largest N against the smallest.
printf '%s\n' "${results[@]}" | awk '
	{ k++; n[k] = $1; cpm[k] = $3 / $1 / ($4 / 60); rss[k] = $5 / $1 }
	END {
		if (k < 2) exit
		lo = 1; hi = 1
		for (i = 1; i <= k; i++) { if (n[i] < n[lo]) lo = i; if (n[i] > n[hi]) hi = i }
		if (n[lo] == n[hi]) exit
		printf "\nScaling: per-camera CPU at N=%d is %.2fx that at N=%d; per-camera RSS %.2fx (target <= 1.2x).\n",
			n[hi], cpm[hi] / cpm[lo], n[lo], rss[hi] / rss[lo]
	}'
if [ ${#cmp[@]} -gt 0 ]; then
	echo
	awk -v n="${cmp[0]}" -v prof="${cmp[1]}" -v v="${cmp[2]}" -v f="${cmp[3]}" -v fr="${cmp[4]}" 'BEGIN{
		printf "Against ffmpeg -c copy -f segment, one per camera, N=%d %s: Vahti %.3f, ffmpeg %.3f CPU-s per camera-minute: ratio %.2f (stretch target <= 0.5); ffmpeg RSS %.1f MiB per camera.\n",
			n, prof, v, f, (f > 0 ? v / f : 0), fr
	}'
fi
