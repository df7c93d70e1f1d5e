#!/bin/sh
# Retention at full scale: 32 cameras x 28 days of 1-minute segments
# (1.29 M catalogued segments) with 1000 active legal holds.
#   idle sweep (nothing expired)            target < 10 ms
#   one day of all cameras expires (46 k)   target < 2 s, unlinks included
#     (kept=7d, kept=28d, and kept=7d,sealed: each segment with a data key)
# The catalog is built once per benchmark (about a minute each); scale it
# down with VAHTI_BENCH_CAMERAS / VAHTI_BENCH_DAYS for a quick look.
set -eu
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'BenchmarkIdleSweep' -benchtime 200x -timeout 30m ./retention
go test -run '^$' -bench 'BenchmarkExpireOneDay' -benchtime 2x -timeout 30m ./retention
