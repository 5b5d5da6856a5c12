#!/usr/bin/env bash
# Runs one fuzz target for a while on a scratch copy of its seeds:
#   run.sh TARGET SEEDS SECONDS MAX_LEN
# New inputs go to a temporary corpus, never into the checked-in seeds. A
# crash is kept as $MESON_BUILD_ROOT/fuzz-crash-TARGET-<sha1> (or beside the
# target) and named, with the line that replays it. Prints libFuzzer's final
# statistics (executions, coverage) and exits non-zero on any finding.
set -uo pipefail
target=$1 seeds=$2 seconds=$3 max_len=$4
name=$(basename "$target")
keep=${MESON_BUILD_ROOT:-$(dirname "$target")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
"$target" -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1 \
	-artifact_prefix="$work/" -close_fd_mask=1 "$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*DONE)' "$work/log"
finding=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | head -n 1)
if [ "$rc" -ne 0 ] || [ -n "$finding" ]; then
	tail -n 60 "$work/log"
	if [ -n "$finding" ]; then
		cp "$finding" "$keep/fuzz-$name-$(basename "$finding")"
		echo "FINDING: $keep/fuzz-$name-$(basename "$finding") (replay: $target $keep/fuzz-$name-$(basename "$finding"))"
	fi
	exit 1
fi
units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
echo "$name: ${units:-?} inputs in ${seconds} s, no finding"
