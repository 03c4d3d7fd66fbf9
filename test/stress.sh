#!/usr/bin/env bash
# Runs vitest N times in a row while every core is kept busy by a CPU hog, and
# reports pass/fail per run. Proves that tests hold on a loaded machine.
#
#   test/stress.sh [-n RUNS] [-j HOGS] [test files...]
#   npm run test:stress -- -n 10 test/close-notify-proxy.test.ts
#
# Defaults: 10 runs, one hog per core (`nproc`), the whole suite. Build dist/
# first when CLI tests are included (npm run build). The hogs are killed on
# exit, however the script ends. Exit status: 0 only if every run passed.
set -u

runs=10
hogs=$(nproc)
while getopts "n:j:" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    j) hogs=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS] [-j HOGS] [test files...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
case $runs in ''|*[!0-9]*) echo "stress: -n wants a whole number of runs, got '$runs'" >&2; exit 2 ;; esac
case $hogs in ''|*[!0-9]*) echo "stress: -j wants a whole number of CPU hogs, got '$hogs'" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.." || exit 2
logdir=$(mktemp -d "${TMPDIR:-/tmp}/gemfetch-stress.XXXXXX")

hog_pids=()
stop_hogs() {
  local pid
  for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${hog_pids[@]}"; do wait "$pid" 2>/dev/null; done
  hog_pids=()
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM HUP

for ((i = 0; i < hogs; i++)); do
  ( while :; do :; done ) &
  hog_pids+=("$!")
done

echo "stress: $runs run(s) of vitest ${*:-(whole suite)} with $hogs CPU hog(s); logs in $logdir"
failed=0
for ((run = 1; run <= runs; run++)); do
  log="$logdir/run-$run.log"
  start=$SECONDS
  if npx vitest run "$@" >"$log" 2>&1; then
    verdict=pass
  else
    verdict=FAIL
    failed=$((failed + 1))
  fi
  summary=$(sed -e 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^ *Tests ' | tail -1 | sed -e 's/^ *//')
  echo "run $run/$runs: $verdict ($((SECONDS - start)) s) ${summary:-no summary, see $log}"
  if [ "$verdict" = FAIL ]; then
    sed -e 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^ *(FAIL|×)' | head -20 | sed 's/^/    /'
  fi
done
echo "stress: $((runs - failed))/$runs run(s) passed"
[ "$failed" -eq 0 ]
