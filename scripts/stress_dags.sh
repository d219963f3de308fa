#!/usr/bin/env bash
# Run tests/dags ROUNDS times (default 5) while a CPU-bound process keeps one core busy, and report
# pass or fail per round. The DAG tests must wait on progress, never on the machine's speed: this is
# how we check that they hold when CI (or a colleague) shares the machine.
#
#   scripts/stress_dags.sh              # 5 rounds
#   scripts/stress_dags.sh 1            # one round
#   scripts/stress_dags.sh 3 -k backfill -x   # extra arguments go to pytest
#   TESTS=tests/dags/test_dag_integrity.py scripts/stress_dags.sh 2   # another selection
#
# Each round runs in a random order whose seed is printed (replay a failing order with
# --randomly-seed=<seed>; -p no:randomly keeps the file order); its output is kept in
# build/stress/round-<n>.log. Exit status: 0 if every round passed.
set -uo pipefail

cd "$(dirname "$0")/.."
ROUNDS="${1:-5}"
if ! [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [ROUNDS] [pytest arguments...]  (ROUNDS is a positive whole number, got '$ROUNDS')" >&2
    exit 2
fi
shift || true
PY="${VENV:-.venv}/bin/python"
if [ ! -x "$PY" ]; then
    echo "no Python at $PY: run 'make install' first" >&2
    exit 2
fi
LOGS=build/stress
mkdir -p "$LOGS"

# The load: one process spinning on a core for as long as the rounds run.
python3 -c 'while True: pass' &
BURNER=$!
trap 'kill "$BURNER" 2>/dev/null; wait "$BURNER" 2>/dev/null' EXIT INT TERM
echo "CPU-bound process $BURNER running beside the tests"

failed=0
for round in $(seq 1 "$ROUNDS"); do
    log="$LOGS/round-$round.log"
    # A random order each round, with its seed said (-q hides the line pytest-randomly prints).
    order=(--randomly-seed="$((RANDOM * 32768 + RANDOM))")
    [[ " $* " == *" no:randomly "* || " $* " == *"-p no:randomly"* ]] && order=()
    seed="${order[0]:-fixed order}"
    started=$(date +%s)
    "$PY" -m pytest "${TESTS:-tests/dags}" -q -p no:cacheprovider "${order[@]}" "$@" >"$log" 2>&1
    status=$?
    seconds=$(($(date +%s) - started))
    summary=$(grep -E '^[=]* *[0-9]+ (passed|failed|error)' "$log" | tail -1 | tr -d '=')
    if [ "$status" -eq 0 ]; then
        verdict=PASS
    else
        verdict=FAIL
        failed=$((failed + 1))
    fi
    echo "round $round/$ROUNDS: $verdict in ${seconds}s ($seed) ${summary:-see $log} log: $log"
done

echo "$((ROUNDS - failed)) of $ROUNDS rounds passed under load"
[ "$failed" -eq 0 ]
