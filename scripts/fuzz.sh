#!/usr/bin/env bash
# Runs the property tests (every `props.rs` in src/, see src/props.rs) with a large budget, one
# property at a time in a release build, and reports how many cases each ran and how long it
# took. The test command runs the same properties with 128 cases each; this is for long runs.
#   scripts/fuzz.sh                      100000 cases per property
#   FUZZ_CASES=20000 scripts/fuzz.sh     another number of cases per property
#   FUZZ_SECONDS=1800 scripts/fuzz.sh    half an hour in all, shared evenly between the
#                                        properties, in rounds of FUZZ_ROUND (2000) cases, each
#                                        round with new random inputs
#   FUZZ_FILTER=connect scripts/fuzz.sh  only properties whose path contains "connect"
# A failure stops the run with the minimal failing input proptest found (exit status 1); it
# becomes a unit test beside the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

cases=${FUZZ_CASES:-100000}
seconds=${FUZZ_SECONDS:-}
round=${FUZZ_ROUND:-2000}
filter=${FUZZ_FILTER:-}

echo "fuzz: building the tests (release)" >&2
built=$(cargo test --release --lib --no-run 2>&1) || { printf '%s\n' "$built" >&2; exit 1; }
# The test binary itself, so that each run costs no cargo start-up.
tests=$(printf '%s\n' "$built" | sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))$/\1/p' | tail -n 1)
[ -x "$tests" ] || { echo "fuzz: cannot find the test binary in cargo's output" >&2; exit 1; }
mapfile -t properties < <(
  "$tests" --list 2>/dev/null | sed -n 's/: test$//p' | grep '::props::' | grep -F -- "$filter" || true
)
if [ "${#properties[@]}" -eq 0 ]; then
  echo "fuzz: no property matches ${filter:-props}" >&2
  exit 2
fi

# Runs one property with `$2` cases; fails the script, with proptest's report, if it fails.
run() {
  local out
  if ! out=$(PROPTEST_CASES=$2 "$tests" --exact "$1" 2>&1); then
    printf '%s\n' "$out" | grep -v '^\s*[0-9]*,$' >&2
    echo "fuzz: $1 FAILED" >&2
    exit 1
  fi
}

now() { date +%s.%N; }
share=""
if [ -n "$seconds" ]; then
  share=$(awk -v s="$seconds" -v n="${#properties[@]}" 'BEGIN { printf "%.3f", s / n }')
  echo "fuzz: ${#properties[@]} properties, ${seconds} s in all (${share} s each, rounds of ${round} cases)" >&2
else
  echo "fuzz: ${#properties[@]} properties, ${cases} cases each" >&2
fi

total_cases=0
started=$(now)
printf '%-95s %10s %9s %10s\n' PROPERTY CASES SECONDS CASES/S
for property in "${properties[@]}"; do
  begin=$(now)
  ran=0
  if [ -n "$share" ]; then
    while awk -v b="$begin" -v n="$(now)" -v s="$share" 'BEGIN { exit !(n - b < s) }'; do
      run "$property" "$round"
      ran=$((ran + round))
    done
  else
    run "$property" "$cases"
    ran=$cases
  fi
  took=$(awk -v b="$begin" -v e="$(now)" 'BEGIN { printf "%.1f", e - b }')
  rate=$(awk -v c="$ran" -v t="$took" 'BEGIN { printf "%.0f", (t > 0 ? c / t : c) }')
  printf '%-95s %10d %9s %10s\n' "$property" "$ran" "$took" "$rate"
  total_cases=$((total_cases + ran))
done
took=$(awk -v b="$started" -v e="$(now)" 'BEGIN { printf "%.0f", e - b }')
printf '%-95s %10d %9s\n' "all ${#properties[@]} properties passed" "$total_cases" "$took"
