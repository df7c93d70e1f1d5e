#!/usr/bin/env bash
# bench-recorder.sh — recorder cost per camera: Vahti against one ffmpeg per camera.
#
#   scripts/bench-recorder.sh [--duration 60] [--cameras "8 32"] [--profiles "720p 1080p"]
#                             [--warmup 5] [--clips DIR] [--keep]
#   scripts/bench-recorder.sh --duration 20 --cameras 8 --profiles 720p     # quick look (about 2 min)
#
# For every N x profile, against the same simulated cameras (one separate
# `vahti fakecam --clip` process per profile, whose CPU is not counted):
#   (a) `vahti serve` recording N cameras over RTSP/TCP into 60 s segments;
#   (b) N x `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 60`
#       (the usual peer approach, e.g. Frigate's recording).
# Measured once every camera is recording plus --warmup seconds, for
# --duration seconds: CPU (utime+stime from /proc/PID/stat) as CPU seconds per
# camera-minute, and RSS (VmRSS, sampled every second; average and peak) and
# PSS (shared library pages split between processes) per camera. With two or
# more N per profile, Vahti's RSS is split into a fixed base and a cost per
# added camera (straight line through the smallest and largest N).
# A run whose recordings are missing or short fails: a recorder that records
# nothing is not a benchmark.
#
# Profiles: 720p = 1280x720 H.264 ~2 Mbit/s, 1080p = 1920x1080 H.264 ~4 Mbit/s,
# both 25 fps with a 2 s GOP, video only (scripts/make-clips.sh --bench).
# Loopback only. Needs go, ffmpeg, jq. Disk: about N x bitrate x duration x 2.
set -euo pipefail

duration=60
cameras="8 32"
profiles="720p 1080p"
warmup=5
clips=""
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration="${2:?}"; shift 2 ;;
	--cameras) cameras="${2:?}"; shift 2 ;;
	--profiles) profiles="${2:?}"; shift 2 ;;
	--warmup) warmup="${2:?}"; shift 2 ;;
	--clips) clips="${2:?}"; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) sed -n '2,24p' "$0"; exit 0 ;;
	*) echo "bench-recorder: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
for t in go ffmpeg ffprobe jq awk; do
	command -v "$t" >/dev/null || { echo "bench-recorder: $t not found (scripts/install-deps.sh)" >&2; exit 1; }
done
case "$duration" in ''|*[!0-9]*) echo "bench-recorder: --duration must be whole seconds" >&2; exit 2 ;; esac
maxn=0
for n in $cameras; do
	case "$n" in ''|*[!0-9]*|0) echo "bench-recorder: --cameras: $n is not a positive number" >&2; exit 2 ;; esac
	if [ "$n" -gt "$maxn" ]; then maxn=$n; fi
done
for p in $profiles; do
	case "$p" in 720p|1080p) ;; *) echo "bench-recorder: --profiles: $p is not 720p or 1080p" >&2; exit 2 ;; esac
done

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

# stop PID...: SIGTERM (both recorders finish their open segment on it), wait up to 20 s.
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
# mem_kib PID...: "RSS PSS" in KiB, summed.
mem_kib() {
	local p r=0 s=0 v
	for p in "$@"; do
		v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status") || die "process $p is gone"
		r=$((r + v))
		v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
		s=$((s + ${v:-0}))
	done
	echo "$r $s"
}

# measure LABEL PID...: sample for $duration s; sets m_cpu (CPU s), m_wall (s),
# m_rss_avg m_rss_peak m_pss_avg (KiB, summed over the PIDs).
measure() {
	local label=$1; shift
	local c0 c1 t0 t1 i rss pss sum_r=0 sum_p=0 peak=0 k=0
	c0=$(cpu_ticks "$@"); t0=$(date +%s.%N)
	for i in $(seq "$duration"); do
		sleep 1
		read -r rss pss < <(mem_kib "$@")
		sum_r=$((sum_r + rss)); sum_p=$((sum_p + pss)); k=$((k + 1))
		if [ "$rss" -gt "$peak" ]; then peak=$rss; fi
	done
	c1=$(cpu_ticks "$@"); t1=$(date +%s.%N)
	m_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz}')
	m_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
	m_rss_avg=$((sum_r / k)); m_rss_peak=$peak; m_pss_avg=$((sum_p / k))
	log "$label: ${m_cpu} CPU-s in ${m_wall} s, RSS avg $((m_rss_avg / 1024)) MiB peak $((m_rss_peak / 1024)) MiB, PSS avg $((m_pss_avg / 1024)) MiB"
}

# check_bytes WHAT N BYTES_OF_CAM_FN: every camera must have at least half of
# what its bitrate gives over the measured window.
check_bytes() {
	local what=$1 n=$2 fn=$3 i b min total=0
	min=$(awk -v r="$rate" -v d="$duration" 'BEGIN{printf "%d", r*d/8/2}')
	for i in $(seq "$n"); do
		b=$("$fn" "c$i")
		[ "$b" -ge "$min" ] || die "$what: camera c$i wrote only $b bytes (expected at least $min for ${duration}s at $rate bit/s)"
		total=$((total + b))
	done
	log "$what: $n cameras wrote $((total / 1048576)) MiB"
}

conf() { # conf DIR N [disabled]
	local dir=$1 n=$2 dis=${3:-} i
	{
		echo "state_dir: $dir/state"
		echo "storage:"
		echo "  root: $dir/rec"
		echo "  segment_duration: 60s"
		echo "retention:"
		echo "  max_age: 1h"
		echo "admin:"
		echo "  listen: 127.0.0.1:0"
		echo "cameras:"
		for i in $(seq "$n"); do
			echo "  - id: c$i"
			echo "    name: c$i"
			echo "    purpose: benchmark"
			echo "    url: $base/c$i"
			echo "    transport: tcp"
			if [ -n "$dis" ]; then echo "    disabled: true"; fi
		done
	} >"$dir/vahti.yaml"
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

# The idle service (every camera disabled), 5 s after start.
base=rtsp://127.0.0.1:9/unused
mkdir -p "$work/base"
conf "$work/base" 1 disabled
"$vahti" serve --config "$work/base/vahti.yaml" >/dev/null 2>"$work/base/log" &
vp=$!; pids+=("$vp")
sleep 5
kill -0 "$vp" 2>/dev/null || { cat "$work/base/log" >&2; die "vahti serve (no cameras) exited"; }
read -r base_rss base_pss < <(mem_kib "$vp")
stop "$vp"
log "vahti base (service, no camera recording): RSS $((base_rss / 1024)) MiB, PSS $((base_pss / 1024)) MiB"

results=()
for prof in $profiles; do
	case "$prof" in
	720p) rate=2000000 ;;
	1080p) rate=4000000 ;;
	esac
	names=$(seq -s, -f 'c%g' "$maxn")
	"$vahti" fakecam --listen 127.0.0.1:0 --clip "$clips/bench-$prof.mp4" --cameras "$names" \
		>"$work/fakecam-$prof.out" 2>"$work/fakecam-$prof.log" &
	fp=$!; pids+=("$fp")
	for i in $(seq 100); do [ -s "$work/fakecam-$prof.out" ] && break; sleep 0.1; done
	first=$(head -1 "$work/fakecam-$prof.out")
	[ -n "$first" ] || { cat "$work/fakecam-$prof.log" >&2; die "fakecam did not start"; }
	base=${first%/c1}
	log "fakecam $prof: $maxn cameras at $base (pid $fp, not measured)"

	for n in $cameras; do
		# (a) Vahti
		d=$work/vahti-$prof-$n
		mkdir -p "$d"
		conf "$d" "$n"
		"$vahti" serve --config "$d/vahti.yaml" >/dev/null 2>"$d/log" &
		vp=$!; pids+=("$vp")
		ok=0
		for i in $(seq 60); do
			sleep 1
			kill -0 "$vp" 2>/dev/null || { tail -20 "$d/log" >&2; die "vahti serve exited"; }
			rec=$("$vahti" status --config "$d/vahti.yaml" --json 2>/dev/null |
				jq '[.cameras[] | select(.state == "recording")] | length' || echo 0)
			[ "$rec" = "$n" ] && { ok=1; break; }
		done
		[ "$ok" = 1 ] || { tail -20 "$d/log" >&2; die "vahti: only $rec of $n cameras recording after 60 s"; }
		log "vahti $prof N=$n: all recording after ${i}s; warm-up ${warmup}s, measuring ${duration}s"
		sleep "$warmup"
		measure "vahti $prof N=$n" "$vp"
		v_cpu=$m_cpu v_wall=$m_wall v_rss=$m_rss_avg v_peak=$m_rss_peak v_pss=$m_pss_avg
		stop "$vp"
		vbytes() { du -sb "$d/rec/$1" 2>/dev/null | awk '{print $1}' || echo 0; }
		check_bytes "vahti $prof N=$n" "$n" vbytes
		"$vahti" status --config "$d/vahti.yaml" --json >"$d/status.json" 2>"$d/status.err" ||
			{ cat "$d/status.err" >&2; die "vahti status failed after the run"; }
		segs=$(jq '[.cameras[].catalog_segments] | add' "$d/status.json")
		[ "$segs" -ge "$n" ] || die "vahti $prof N=$n: only $segs segments catalogued for $n cameras"
		tmps=$(find "$d/rec" -name '*.tmp' -printf x | wc -c)
		[ "$tmps" = 0 ] || die "vahti $prof N=$n: $tmps unfinished segments left after a clean stop"
		one=$(find "$d/rec" -name '*.mp4' -print -quit)
		ffprobe -v error -show_entries format=duration -of csv=p=0 "$one" >/dev/null || die "ffprobe cannot read $one"
		log "vahti $prof N=$n: $segs segments catalogued, none unfinished, ffprobe reads them"
		rm -rf "$d/rec"

		# (b) one ffmpeg per camera
		f=$work/ffmpeg-$prof-$n
		mkdir -p "$f"
		fps=()
		for i in $(seq "$n"); do
			ffmpeg -nostdin -loglevel error -rtsp_transport tcp -i "$base/c$i" -c copy \
				-f segment -segment_time 60 -reset_timestamps 1 "$f/c$i-%03d.mp4" 2>>"$f/log" &
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
		f_cpu=$m_cpu f_wall=$m_wall f_rss=$m_rss_avg f_peak=$m_rss_peak f_pss=$m_pss_avg
		stop "${fps[@]}"
		fbytes() { cat "$f/$1"-*.mp4 2>/dev/null | wc -c; }
		check_bytes "ffmpeg $prof N=$n" "$n" fbytes
		rm -f "$f"/*.mp4

		results+=("$n $prof $v_cpu $v_wall $v_rss $v_peak $v_pss $f_cpu $f_wall $f_rss $f_peak $f_pss")
	done
	stop "$fp"
done

echo
echo "Recorder benchmark: ${duration}s measured per run after ${warmup}s warm-up; $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
echo "Load average at the start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows here)."
echo "CPU = CPU seconds per camera-minute; RSS, PSS = MiB per camera (process total / N, averaged over 1 s samples)."
echo "Vahti idle service right after start (no camera recording): RSS $(awk -v k="$base_rss" 'BEGIN{printf "%.1f", k/1024}') MiB, PSS $(awk -v k="$base_pss" 'BEGIN{printf "%.1f", k/1024}') MiB."
echo
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
	N profile "Vahti CPU" "ffmpeg CPU" "ratio" "Vahti RSS" "Vahti peak RSS" "ffmpeg RSS" "ratio" "Vahti PSS" "ffmpeg PSS"
echo '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
for r in "${results[@]}"; do
	# shellcheck disable=SC2086
	set -- $r
	awk -v n="$1" -v prof="$2" -v vc="$3" -v vw="$4" -v vr="$5" -v vp="$6" -v vs="$7" \
		-v fc="$8" -v fw="$9" -v fr="${10}" -v fp="${11}" -v fs="${12}" 'BEGIN{
		vcpm = vc / n / (vw / 60); fcpm = fc / n / (fw / 60)
		printf "| %d | %s | %.3f | %.3f | %.2f | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f |\n",
			n, prof, vcpm, fcpm, (fcpm > 0 ? vcpm / fcpm : 0),
			vr / 1024 / n, vp / 1024 / n, fr / 1024 / n, (fr > 0 ? vr / fr : 0), vs / 1024 / n, fs / 1024 / n
	}'
done
# The fixed part of Vahti's memory is not the idle figure above (that one
# still holds start-up garbage the first GC frees); the fit over the runs of
# one profile separates the fixed base from the cost of one more camera.
echo
for prof in $profiles; do
	printf '%s\n' "${results[@]}" | awk -v prof="$prof" '$2 == prof {
		k++; x[k] = $1; y[k] = $5 / 1024; c[k] = $3 / ($4 / 60)
	} END {
		if (k < 2) exit
		lo = 1; hi = 1
		for (i = 1; i <= k; i++) { if (x[i] < x[lo]) lo = i; if (x[i] > x[hi]) hi = i }
		if (x[hi] == x[lo]) exit
		m = (y[hi] - y[lo]) / (x[hi] - x[lo]); b = y[lo] - m * x[lo]
		mc = (c[hi] - c[lo]) / (x[hi] - x[lo]); bc = c[lo] - mc * x[lo]
		printf "Vahti %s (fit through N=%d and N=%d): each added camera %.3f CPU-s per minute and %.2f MiB RSS; fixed %.2f CPU-s per minute and %.1f MiB RSS\n",
			prof, x[lo], x[hi], mc, m, bc, b
	}'
done
