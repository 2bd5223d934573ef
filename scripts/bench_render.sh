#!/usr/bin/env bash
# Render speed and peak memory of `replaylake render` on the real-client recordings.
#
# usage: scripts/bench_render.sh [SESSION...]      (default: ph-s2202-01 ph-s2202-04 rr-s2202-01)
#
# Builds the release binary (or uses REPLAYLAKE_BENCH_BIN, e.g. a debug build: say so when you
# quote the figures), converts each recording of tests/data/realclient into a scratch lake, and
# renders the whole recording (--skip-inactive=false) at 1280x720, 24 fps, speed 1 and speed 4.
# Prints, per run: the recording's length, the render's wall time and that time as a multiple of
# the recording's length (the target: under 0.5 at speed 1, i.e. a one-minute recording in under
# 30 s on 2 cores), the frames (made / taken by a screenshot), the peak RSS of replaylake
# (/usr/bin/time -v) and of its browser (all its processes, VmRSS summed, polled every 100 ms;
# the peak of the sum).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/replaylake-target}"
SESSIONS=("$@")
[ ${#SESSIONS[@]} -gt 0 ] || SESSIONS=(ph-s2202-01 ph-s2202-04 rr-s2202-01)

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time" >&2
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get install -y -qq time >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq time >/dev/null; }
fi
BIN="${REPLAYLAKE_BENCH_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/replaylake"
fi
bash scripts/setup-player.sh >/dev/null

WORK="$(mktemp -d "${TMPDIR:-/tmp}/replaylake-bench-render.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Every descendant process of $1.
descendants() {
  local c
  for c in $(pgrep -P "$1" || true); do
    echo "$c"
    descendants "$c"
  done
}

# Peak of the summed VmRSS (KiB) of the browser's processes (every descendant of replaylake
# process $1 but ffmpeg), polled every 100 ms until $1 exits.
browser_peak() {
  local pid=$1 peak=0 sum kb p
  while kill -0 "$pid" 2>/dev/null; do
    sum=0
    for p in $(descendants "$pid"); do
      [ "$(cat "/proc/$p/comm" 2>/dev/null)" = ffmpeg ] && continue
      kb=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
      sum=$((sum + ${kb:-0}))
    done
    [ "$sum" -gt "$peak" ] && peak=$sum
    sleep 0.1
  done
  echo "$peak"
}

printf '%-12s %5s %8s %8s %8s %13s %9s %9s  %s\n' session speed rec_s wall_s x_rec frames/taken rl_MB browser_MB binary
for s in "${SESSIONS[@]}"; do
  in="tests/data/realclient/$s.blob.jsonl"
  [ -f "$in" ] || in="tests/data/realclient/$s.rrweb.json"
  "$BIN" -q convert "$in" --dest "$WORK/lake-$s" >/dev/null
  for speed in 1 4; do
    out="$WORK/$s-$speed.mp4"
    /usr/bin/time -v -o "$WORK/time" "$BIN" -q render --lake "$WORK/lake-$s" --session "$s" \
      --out "$out" --width 1280 --height 720 --fps 24 --speed "$speed" --skip-inactive=false \
      --json >"$WORK/summary" &
    sleep 0.2
    rl=$(pgrep -n -f "render --lake $WORK/lake-$s" || echo 0)
    bpeak=$(browser_peak "$rl")
    wait
    python3 - "$WORK/summary" "$WORK/time" "$s" "$speed" "$bpeak" "$BIN" <<'EOF'
import json, re, sys
summary, timef, s, speed, bpeak, binary = sys.argv[1:]
j = json.load(open(summary))
t = open(timef).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
wall = j["seconds"]
rec = j["timeline_ms"] / 1000
print(f"{s:<12} {speed:>5} {rec:8.1f} {wall:8.1f} {wall / rec:8.2f} {j['frames']:>6}/{j['captured']:<6} "
      f"{rss / 1024:9.0f} {int(bpeak) / 1024:9.0f}  {binary}")
EOF
  done
done
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
