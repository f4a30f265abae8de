#!/usr/bin/env bash
# The action's check step: stop the recorder (SIGTERM: it scans once more and writes its `stopped` event), then
# check the recording against the policy: GitHub annotations on the log, a JUnit report, and the check's exit code
# (0 every listener allowed, 1 unexpected listeners, 2 bad input or undecidable) as output and, unless
# PW_FAIL is false, as the step's result.
#
# Environment: PW_POLICY, PW_JUNIT, PW_FAIL, RUNNER_TEMP, GITHUB_OUTPUT (set by the runner).
set -uo pipefail

dir="$RUNNER_TEMP/portwarden"
recording="$dir/listeners.ndjson"
if [ ! -f "$dir/watch.pid" ]; then
  echo "::error title=portwarden::no recorder was started: run this action with step: start first"
  exit 2
fi
pid=$(cat "$dir/watch.pid")
sudo=()
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
fi
# ps, not kill -0: the recorder may be root's (sudo), which kill -0 cannot probe as another user.
if ps -p "$pid" >/dev/null; then
  "${sudo[@]}" kill -TERM "$pid"
  for _ in $(seq 1 300); do
    ps -p "$pid" >/dev/null || break
    sleep 0.1
  done
fi
rm -f "$dir/watch.pid"
cat "$dir/watch.log" 2>/dev/null
# The recorder, as root, made the file readable by root only.
[ "${#sudo[@]}" -eq 0 ] || "${sudo[@]}" chown "$(id -u):$(id -g)" "$recording"

portwarden check --policy "$PW_POLICY" --from "$recording" --format github
code=$?
portwarden check --policy "$PW_POLICY" --from "$recording" --format junit > "$PW_JUNIT"
junit=$?
if [ "$junit" != "$code" ]; then
  echo "::warning title=portwarden::the JUnit report's check ended with $junit, the annotations' with $code"
fi
{
  echo "exit-code=$code"
  echo "junit=$PW_JUNIT"
  echo "recording=$recording"
} >> "$GITHUB_OUTPUT"
case "$code" in
  0) echo "portwarden: every listener recorded is allowed by $PW_POLICY" ;;
  1) echo "portwarden: unexpected listeners (see the annotations and $PW_JUNIT)" ;;
  *) echo "portwarden: the check could not decide (exit $code): see the messages above" ;;
esac
if [ "$PW_FAIL" = false ]; then
  exit 0
fi
exit "$code"
