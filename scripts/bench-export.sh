#!/usr/bin/env bash
# Export benchmark: one ≈2 Mbit/s camera (H.264 1280x720 25 fps + AAC,
# 60 s segments, each with its fragment index as the recorder writes it)
# over 5 minutes and 1 hour, and 8 such cameras over 1 hour in one
# package; warm and cold page cache; against `ffmpeg -f concat -c copy`
# over the same segment files in the same run (once per camera).
#
#   scripts/bench-export.sh [DIR]      (root is needed to drop the page cache)
#   RUNS=3 CAMERAS=8 scripts/bench-export.sh
#
# MB/s = source segment bytes / wall time. vahti's time is the whole
# `vahti export`: planning, reading every source once, checking its SHA-256
# against the catalog, hashing each clip and the package, zipping, fsync,
# the registry/audit transaction and --out (a hard link here: same
# filesystem). Warm figures are the best of RUNS; cold ones one run each.
# The disk's sequential read speed is measured with dd over the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-$(mktemp -d /tmp/vahti-bench-export.XXXXXX)}
RUNS=${RUNS:-2}
CAMERAS=${CAMERAS:-8}
mkdir -p "$DIR"
go build -o "$DIR/vahti" ./cmd/vahti
if [ ! -f "$DIR/vahti.yaml" ] || ! grep -q "cam$CAMERAS\b" "$DIR/vahti.yaml"; then
	echo "generating $CAMERAS cameras x 65 minutes of footage in $DIR ..."
	rm -rf "$DIR/rec" "$DIR/state" "$DIR/vahti.yaml"
	VAHTI_BENCH_DIR="$DIR" VAHTI_BENCH_CAMERAS=$CAMERAS go test -count=1 -run '^TestGenerateBenchData$' -v ./admin/export/ | grep -E '^segments'
fi
cams="yard"
for i in $(seq 2 "$CAMERAS"); do cams="$cams,cam$i"; done
for c in ${cams//,/ }; do sed "s#/yard/#/$c/#" "$DIR/concat-1h.txt" >"$DIR/concat-1h-$c.txt"; done
can_drop=0
if [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
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

# The disk: sequential read of one camera's hour, cold.
dd_mbps=""
if [ $can_drop = 1 ]; then
	drop
	s=$(date +%s.%N)
	# shellcheck disable=SC2046
	cat $(sed -n "s/^file '\(.*\)'$/\1/p" "$DIR/concat-1h.txt") | dd of=/dev/null bs=4M status=none
	e=$(date +%s.%N)
	dd_mbps=$(mbps "$(cat "$DIR/bytes-1h")" "$(echo "$e - $s" | bc -l)")
	echo "disk sequential read (cat | dd, cold, one camera-hour): $dd_mbps MB/s"
fi

printf '%-10s %-5s %8s %7s %6s %7s | %8s %7s %6s | %6s\n' case cache vahti_s MB/s cpu_s rss_MiB ffmpeg_s MB/s cpu_s ratio
for c in "1 5m" "1 1h" "$CAMERAS 1h"; do
	set -- $c
	n=$1 span=$2
	ecams=$(echo "$cams" | cut -d, -f1-"$n")
	case $span in 5m) to=2026-11-22T12:05:00Z ;; 1h) to=2026-11-22T13:00:00Z ;; esac
	bytes=$(( $(cat "$DIR/bytes-$span") * n ))
	if [ "$span" = 5m ]; then sed -n 1,5p "$DIR/concat-1h.txt" >"$DIR/concat-5m-yard.txt"; fi
	for cache in warm cold; do
		if [ $cache = cold ]; then
			[ $can_drop = 1 ] || { echo "$n x $span cold: skipped (not root)"; continue; }
			clean; drop; v=$(run vx); vc=$(cat "$DIR/cpu"); vr=$(cat "$DIR/rss")
			clean; drop; f=$(run fx); fc=$(cat "$DIR/cpu")
		else
			clean; run vx >/dev/null; clean; run fx >/dev/null # warm the cache and the key
			v=999999 f=999999
			for _ in $(seq "$RUNS"); do
				clean; sync; t=$(run vx)
				if (($(echo "$t < $v" | bc -l))); then v=$t vc=$(cat "$DIR/cpu") vr=$(cat "$DIR/rss"); fi
				clean; sync; t=$(run fx)
				if (($(echo "$t < $f" | bc -l))); then f=$t fc=$(cat "$DIR/cpu"); fi
			done
		fi
		printf '%-10s %-5s %8.2f %7s %6.2f %7s | %8.2f %7s %6.2f | %5.2fx\n' "$n x $span" $cache "$v" "$(mbps $bytes "$v")" "$vc" "$vr" \
			"$f" "$(mbps $bytes "$f")" "$fc" "$(echo "$f / $v" | bc -l)"
		if [ $cache = cold ] && [ -n "$dd_mbps" ]; then
			echo "           cold vahti / disk sequential read: $(echo "scale=2; $(mbps $bytes "$v") / $dd_mbps" | bc -l)"
		fi
	done
	run vx >/dev/null
	v=$("$DIR/vahti" verify-export "$DIR/out.zip") && echo "${v%%$'\n'*}"
	clean
done
echo
VAHTI_BENCH_DIR="$DIR" go test -count=1 -run '^TestBenchPlayback$' -v ./admin/export/ | grep -E '^playback'
VAHTI_BENCH_DIR="$DIR" go test -count=1 -run '^$' -bench '^BenchmarkPlanHour$' -benchtime 20x -benchmem ./admin/export/ | grep -E '^Benchmark'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "source bytes per camera: 5m $(cat "$DIR/bytes-5m"), 1h $(cat "$DIR/bytes-1h"); ratio = ffmpeg wall time / vahti wall time; cpu_s = user+sys; rss = vahti's peak"
echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
