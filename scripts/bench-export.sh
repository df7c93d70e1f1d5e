#!/usr/bin/env bash
# Export benchmark: 5 minutes and 1 hour of one ≈2 Mbit/s camera
# (H.264 1280x720 25 fps + AAC, 60 s segments), warm and cold page cache,
# against `ffmpeg -f concat -c copy` over the same segment files.
#
#   scripts/bench-export.sh [DIR]      (root is needed to drop the page cache)
#
# MB/s = source segment bytes / wall time. vahti's time includes reading
# every source once, checking its SHA-256 against the catalog, hashing each
# clip, zipping, fsync, the registry/audit transaction and the copy to --out.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-$(mktemp -d /tmp/vahti-bench-export.XXXXXX)}
mkdir -p "$DIR"
go build -o "$DIR/vahti" ./cmd/vahti
if [ ! -f "$DIR/vahti.yaml" ]; then
	echo "generating 65 minutes of footage in $DIR ..."
	VAHTI_BENCH_DIR="$DIR" go test -count=1 -run '^TestGenerateBenchData$' -v ./admin/export/ | grep -E '^segments'
fi
can_drop=0
if [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# secs CMD: wall seconds; the CPU seconds (user+sys) go to $DIR/cpu.
secs() {
	local s=$(date +%s.%N)
	/usr/bin/time -f "%U %S" -o "$DIR/cpu.raw" bash -c "$(declare -f "$1"); DIR='$DIR' span='$span' to='$to' $1" >/dev/null 2>&1
	local e=$(date +%s.%N)
	awk '{print $1+$2}' "$DIR/cpu.raw" >"$DIR/cpu"
	echo "$e - $s" | bc -l
}
mbps() { echo "scale=1; $1 / 1000000 / $2" | bc -l; }

printf '%-4s %-5s %8s %10s %8s %8s %10s %8s %7s\n' span cache vahti_s vahti_MB/s cpu_s ffmpeg_s ffmpeg_MB/s cpu_s ratio
for span in 5m 1h; do
	bytes=$(cat "$DIR/bytes-$span")
	case $span in 5m) to=2026-11-22T12:05:00Z ;; 1h) to=2026-11-22T13:00:00Z ;; esac
	vx() { rm -f "$DIR/out-$span.zip"; "$DIR/vahti" export --config "$DIR/vahti.yaml" --camera yard --from 2026-11-22T12:00:00Z --to $to \
		--reason benchmark --out "$DIR/out-$span.zip"; }
	fx() { rm -f "$DIR/ffmpeg-$span.mp4"; ffmpeg -v error -y -f concat -safe 0 -i "$DIR/concat-$span.txt" -c copy "$DIR/ffmpeg-$span.mp4"; }
	for cache in warm cold; do
		if [ $cache = cold ]; then
			[ $can_drop = 1 ] || { echo "$span cold: skipped (not root)"; continue; }
			drop; v=$(secs vx); vc=$(cat "$DIR/cpu"); drop; f=$(secs fx); fc=$(cat "$DIR/cpu")
		else
			vx >/dev/null 2>&1; fx # warm the cache and the key
			sync; v=$(secs vx); vc=$(cat "$DIR/cpu"); sync; f=$(secs fx); fc=$(cat "$DIR/cpu")
		fi
		printf '%-4s %-5s %8.3f %10s %8.2f %8.3f %10s %8.2f %7.2f\n' $span $cache "$v" "$(mbps $bytes $v)" "$vc" "$f" "$(mbps $bytes $f)" "$fc" "$(echo "$f / $v" | bc -l)"
	done
	"$DIR/vahti" verify-export "$DIR/out-$span.zip" | head -1
	rm -f "$DIR"/state/exports/*.zip # keep the disk from filling over repeated runs
done
echo
VAHTI_BENCH_DIR="$DIR" go test -count=1 -run '^TestBenchPlayback$' -v ./admin/export/ | grep -E '^playback'
VAHTI_BENCH_DIR="$DIR" go test -count=1 -run '^$' -bench '^BenchmarkPlanHour$' -benchtime 10x ./admin/export/ | grep -E '^Benchmark'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "source bytes: 5m $(cat "$DIR/bytes-5m"), 1h $(cat "$DIR/bytes-1h"); ratio = ffmpeg wall time / vahti wall time; cpu_s = user+sys"
echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
