#!/usr/bin/env bash
# Measures `bash .ci/run` of two commits side by side on this machine, as issue 26 asks: for each round, a
# fresh clone of BASE then one of HEAD (each deleted after its run), one after the other.
#   bash scripts/ci-compare.sh BASE HEAD [ROUNDS]   (default 1 round; nothing else should run meanwhile)
# Prints one line per run (commit, exit code, seconds, npm test's last line) and appends them to
# test-artifacts/ci-compare.tsv.
set -uo pipefail
base=${1:?base commit}
head=${2:?head commit}
rounds=${3:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/test-artifacts/ci-compare.tsv
mkdir -p "$(dirname "$out")"
for ((r = 1; r <= rounds; r++)); do
  for c in "$base" "$head"; do
    dir=$(mktemp -d /tmp/ci-compare-XXXXXX)
    git clone -q "$repo" "$dir/repo" && git -C "$dir/repo" checkout -q "$c"
    start=$(date +%s)
    (cd "$dir/repo" && CI=true bash .ci/run </dev/null >"$dir/log" 2>&1)
    code=$?
    secs=$(($(date +%s) - start))
    last=$(grep -a 'npm test:\|Test Files\|Duration' "$dir/log" | tail -1 | tr '\t' ' ')
    line="$(date -u +%FT%TZ)	round $r	$(git -C "$repo" rev-parse --short "$c")	exit $code	${secs} s	$last"
    echo "$line" | tee -a "$out"
    [ "$code" = 0 ] || cp "$dir/log" "$repo/test-artifacts/ci-compare-$(git -C "$repo" rev-parse --short "$c")-$r.log"
    rm -rf "$dir"
  done
done
