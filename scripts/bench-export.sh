#!/usr/bin/env bash
# Export benchmark: one ≈2 Mbit/s camera (H.264 1280x720 25 fps + AAC,
# 60 s segments, each with its fragment index as the recorder writes it)
# over 5 minutes and 1 hour, and CAMERAS such cameras over 1 hour in one
# package; warm and cold page cache; against `ffmpeg -f concat -c copy`
# over the same segment files in the same run (once per camera); the
# disk's sequential read measured with dd in the same run; playback's
# first byte (BenchmarkPlaybackWindow). It prints every ratio against its
# target, so a rerun on an idle box is the whole check.
#
#   sudo scripts/bench-export.sh [DIR]     (root: to drop the page cache)
#   RUNS=3 CAMERAS=8 CASES="1:5m 1:1h 8:1h" scripts/bench-export.sh DIR
#
# DIR keeps the generated footage (8 cameras x 65 min: about 8 GB, a
# minute or two to make) for the next run. Defaults: RUNS=2, CAMERAS=8,
# CASES="1:5m 1:1h $CAMERAS:1h", COLD=1 (0: skip the cold runs) — about
# five minutes on an idle 2-core box once the footage exists.
#
# MB/s = source segment bytes / wall time. vahti's time is the whole
# `vahti export`: planning, reading every source once, checking its SHA-256
# against the catalog, hashing each clip and the package, zipping, fsync,
# the registry/audit transaction and --out (a hard link here: same
# filesystem). Warm: the sources are read into the page cache first, then
# the best of RUNS; cold: one run each right after dropping the page cache.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-$(mktemp -d /tmp/vahti-bench-export.XXXXXX)}
RUNS=${RUNS:-2}
CAMERAS=${CAMERAS:-8}
CASES=${CASES:-"1:5m 1:1h $CAMERAS:1h"}
COLD=${COLD:-1}
mkdir -p "$DIR"
go build -o "$DIR/vahti" ./cmd/vahti
if [ ! -f "$DIR/vahti.yaml" ] || ! grep -q "cam$CAMERAS\b" "$DIR/vahti.yaml"; then
	echo "generating $CAMERAS cameras x 65 minutes of footage in $DIR ..."
	rm -rf "$DIR/rec" "$DIR/state" "$DIR/vahti.yaml"
	VAHTI_BENCH_DIR="$DIR" VAHTI_BENCH_CAMERAS=$CAMERAS go test -count=1 -run '^TestGenerateBenchData$' -v ./admin/export/ | grep -E '^segments'
fi
cams="yard"
for i in $(seq 2 "$CAMERAS"); do cams="$cams,cam$i"; done
for c in ${cams//,/ }; do
	sed "s#/yard/#/$c/#" "$DIR/concat-1h.txt" >"$DIR/concat-1h-$c.txt"
	sed -n 1,5p "$DIR/concat-1h-$c.txt" >"$DIR/concat-5m-$c.txt"
done
can_drop=0
if [ "$COLD" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
files() { for c in ${ecams//,/ }; do sed -n "s/^file '\(.*\)'$/\1/p" "$DIR/concat-$span-$c.txt"; done; }
# run NAME: wall seconds on stdout; CPU seconds (user+sys) and max RSS (MiB) in $DIR/cpu, $DIR/rss.
run() {
	local s e
	s=$(date +%s.%N)
	/usr/bin/time -f "%U %S %M" -o "$DIR/time.raw" bash -c "$(declare -f "$1"); DIR='$DIR' to='$to' span='$span' ecams='$ecams' $1" >/dev/null 2>"$DIR/err.log" ||
		{ echo "$1 failed:" >&2; cat "$DIR/err.log" >&2; exit 1; }
	e=$(date +%s.%N)
	tail -1 "$DIR/time.raw" | awk '{print $1+$2}' >"$DIR/cpu"
	tail -1 "$DIR/time.raw" | awk '{printf "%.0f", $3/1024}' >"$DIR/rss"
	echo "$e - $s" | bc -l
}
mbps() { echo "scale=0; $1 / 1000000 / $2" | bc -l; }
clean() { rm -f "$DIR"/out.zip "$DIR"/state/exports/*.zip "$DIR"/ffmpeg-*.mp4; }
vx() { "$DIR/vahti" export --config "$DIR/vahti.yaml" --camera "$ecams" --from 2026-11-22T12:00:00Z --to "$to" \
	--reason benchmark --out "$DIR/out.zip"; }
fx() { for c in ${ecams//,/ }; do ffmpeg -v error -y -f concat -safe 0 -i "$DIR/concat-$span-$c.txt" -c copy "$DIR/ffmpeg-$c.mp4"; done; }
verdict() { if (($(echo "$1" | bc -l))); then echo met; else echo MISSED; fi; }

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# The disk: sequential read of one camera's hour, cold.
dd_mbps=""
if [ $can_drop = 1 ]; then
	drop
	s=$(date +%s.%N)
	# shellcheck disable=SC2046
	cat $(sed -n "s/^file '\(.*\)'$/\1/p" "$DIR/concat-1h.txt") | dd of=/dev/null bs=4M status=none
	e=$(date +%s.%N)
	dd_mbps=$(mbps "$(cat "$DIR/bytes-1h")" "$(echo "$e - $s" | bc -l)")
	echo "disk sequential read (cat | dd bs=4M, cold, one camera-hour): $dd_mbps MB/s"
fi

summary=()
printf '%-10s %-5s %8s %7s %6s %7s | %8s %7s %6s | %6s\n' case cache vahti_s MB/s cpu_s rss_MiB ffmpeg_s MB/s cpu_s ratio
for c in $CASES; do
	n=${c%%:*} span=${c##*:}
	ecams=$(echo "$cams" | cut -d, -f1-"$n")
	case $span in 5m) to=2026-11-22T12:05:00Z ;; 1h) to=2026-11-22T13:00:00Z ;; *) echo "span $span: 5m or 1h" >&2; exit 2 ;; esac
	bytes=$(( $(cat "$DIR/bytes-$span") * n ))
	for cache in warm cold; do
		if [ $cache = cold ]; then
			[ $can_drop = 1 ] || { echo "$n x $span cold: skipped (COLD=0 or not root)"; continue; }
			clean; drop; v=$(run vx); vc=$(cat "$DIR/cpu"); vr=$(cat "$DIR/rss")
			clean; drop; f=$(run fx); fc=$(cat "$DIR/cpu")
		else
			# shellcheck disable=SC2046
			cat $(files) >/dev/null # into the page cache
			v=999999 f=999999
			for _ in $(seq "$RUNS"); do
				clean; sync; t=$(run vx)
				if (($(echo "$t < $v" | bc -l))); then v=$t vc=$(cat "$DIR/cpu") vr=$(cat "$DIR/rss"); fi
				clean; sync; t=$(run fx)
				if (($(echo "$t < $f" | bc -l))); then f=$t fc=$(cat "$DIR/cpu"); fi
			done
		fi
		vm=$(mbps $bytes "$v")
		ratio=$(echo "scale=2; $f / $v" | bc -l)
		printf '%-10s %-5s %8.2f %7s %6.2f %7s | %8.2f %7s %6.2f | %5.2fx\n' "$n x $span" $cache "$v" "$vm" "$vc" "$vr" \
			"$f" "$(mbps $bytes "$f")" "$fc" "$ratio"
		if [ $cache = warm ] && [ "$n" = 1 ]; then
			summary+=("1 camera $span warm: vahti/ffmpeg speed ${ratio}x (target >= 2x): $(verdict "$ratio >= 2")")
		elif [ $cache = warm ]; then
			summary+=("$n cameras $span warm: $vm MB/s (target >= 600 MB/s): $(verdict "$vm >= 600"); ${ratio}x ffmpeg")
		elif [ -n "$dd_mbps" ] && [ "$span" = 1h ]; then
			r=$(echo "scale=2; $vm / $dd_mbps" | bc -l)
			summary+=("$n x $span cold: $vm MB/s = $r of dd's $dd_mbps MB/s (target >= 0.90): $(verdict "$r >= 0.90"); ${ratio}x ffmpeg")
		fi
	done
	run vx >/dev/null
	v=$("$DIR/vahti" verify-export "$DIR/out.zip") && echo "           ${v%%$'\n'*}"
	clean
done
echo
VAHTI_BENCH_DIR="$DIR" go test -count=1 -run '^$' -bench '^BenchmarkPlaybackWindow$' -benchtime 20x ./admin/export/ | grep -E '^Benchmark' | tee "$DIR/playback.txt"
for w in 5m 1h; do
	ms=$(awk -v w="/$w-" 'index($1, w) {for (i = 1; i <= NF; i++) if ($(i+1) == "max-first-byte-ms") print $i}' "$DIR/playback.txt")
	[ -n "$ms" ] && summary+=("playback first byte, new $w window, warm: worst $ms ms of 20 (target < 30 ms): $(verdict "$ms < 30")")
done
VAHTI_BENCH_DIR="$DIR" go test -count=1 -run '^$' -bench '^BenchmarkPlanHour$' -benchtime 20x -benchmem ./admin/export/ | grep -E '^Benchmark'
echo
printf '%s\n' "${summary[@]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (figures from a loaded box are not the box's)"
echo "source bytes per camera: 5m $(cat "$DIR/bytes-5m"), 1h $(cat "$DIR/bytes-1h"); ratio = ffmpeg wall time / vahti wall time; cpu_s = user+sys; rss = vahti's peak"
echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
