#!/usr/bin/env bash
# The action's start step: `portwarden watch --record` in the background (as root where sudo allows, so every
# owner is seen) until the check step stops it. Waits for the first scan, so listeners opened by the next step are
# recorded as new ones.
#
# Environment: PW_INTERVAL, RUNNER_TEMP, GITHUB_OUTPUT (set by the runner).
set -euo pipefail

dir="$RUNNER_TEMP/portwarden"
mkdir -p "$dir"
bin=$(command -v portwarden)
recording="$dir/listeners.ndjson"
rm -f "$recording" "$dir/watch.log" "$dir/watch.pid"
sudo=()
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
fi
# setsid: the recorder outlives this step's shell; its pid (sudo's, which passes SIGTERM on) is kept for the check.
setsid "${sudo[@]}" "$bin" watch --interval "$PW_INTERVAL" --record "$recording" > "$dir/watch.log" 2>&1 < /dev/null &
echo $! > "$dir/watch.pid"
for _ in $(seq 1 300); do
  if grep -q "portwarden: watching" "$dir/watch.log"; then
    cat "$dir/watch.log"
    echo "recording=$recording" >> "$GITHUB_OUTPUT"
    exit 0
  fi
  if ! ps -p "$(cat "$dir/watch.pid")" >/dev/null; then
    echo "::error title=portwarden::the recorder stopped at once: $(cat "$dir/watch.log")"
    exit 2
  fi
  sleep 0.1
done
echo "::error title=portwarden::the recorder did not start within 30 s: $(cat "$dir/watch.log")"
exit 2
