#!/bin/sh
# tests/run-fuzz.sh: run the libFuzzer targets (build/fuzz/fuzz_<target>,
# built by `make fuzz-build`) for SECONDS each and print one
# `TORPOR-TEST fuzz_<target> PASS|FAIL <reason>` line each.
set -u

usage() {
	cat <<'EOF'
usage: tests/run-fuzz.sh SECONDS [TARGET...]

Fuzz each TARGET (http, fuzz_http, ...; none means every tests/fuzz/fuzz_*.c)
for SECONDS with libFuzzer, starting from a copy of its seeds
(tests/fuzz/corpus/<target>/, never modified) kept in
build/fuzz/corpus-work/<target>/, where the corpus grows from run to run.
Before fuzzing, the saved reproducers tests/fuzz/crashes/<target>-* are run:
one that still crashes fails the target.

Output per target, exactly one result line:

  TORPOR-TEST fuzz_<target> PASS              (a line of stats before it)
  TORPOR-TEST fuzz_<target> FAIL <reason>     (the end of libFuzzer's report
                                               before it, each line prefixed
                                               with "  fuzz_<target>| ")

Crashing inputs are written to build/fuzz/artifacts/<target>/; logs to
build/fuzz/logs/<target>.log. Exit status 1 if any target failed.
EOF
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
'' | *[!0-9]* | 0) usage >&2; exit 2 ;;
esac
secs=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${TORPOR_FUZZ_DIR:-$root/build/fuzz}

if [ $# -eq 0 ]; then
	for f in "$here"/fuzz/fuzz_*.c; do
		[ -e "$f" ] && set -- "$@" "$(basename "$f" .c)"
	done
fi

# Longest input per target: above each parser's caps, so the fuzzer reaches them.
max_len() {
	case "$1" in
	http) echo 20000 ;;    # headers cap 8 KiB, bodies up to 16 KiB here
	cmdline) echo 8192 ;;  # torpor.run cap 2 KiB
	image) echo 1024 ;;    # 33 bytes of parameters and a 64-byte header
	*) echo 4096 ;;
	esac
}

nfail=0

result() { # NAME STATUS [REASON]
	if [ -n "${3:-}" ]; then
		echo "TORPOR-TEST $1 $2 $3"
	else
		echo "TORPOR-TEST $1 $2"
	fi
	[ "$2" = FAIL ] && nfail=$((nfail + 1))
}

# The report, indented, above a FAIL line: from the first error line (the
# check that failed, the sanitizer's or libFuzzer's) up to 40 lines, without
# ASan's shadow byte dump; else the log's last 40 lines.
show() { # NAME LOG
	_at=$(grep -n -m 1 -E 'check failed|runtime error: |==[0-9]+==ERROR|ERROR: libFuzzer: ' "$2" |
		cut -d: -f1)
	if [ -n "$_at" ]; then
		tail -n "+$_at" "$2" | sed '/^Shadow bytes around/,/^  Right alloca redzone/d' |
			grep -v -E '^(MS: |0x[0-9a-f]|Base64: |stat::)' | head -n 40
	else
		tail -n 40 "$2"
	fi | sed "s/^/  $1| /"
}

# One line saying what went wrong, from a libFuzzer log.
what() { # LOG
	_w=$(grep -m 1 -E 'check failed|runtime error: |^SUMMARY: |ERROR: libFuzzer: ' "$1" |
		sed -e 's/^SUMMARY: //' -e 's/^==[0-9]*== *//' -e 's/^fuzz_[a-z]*: //')
	echo "${_w:-exit status $2}"
}

# The input libFuzzer saved, if any.
artifact() { # LOG
	sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$1" | tail -n 1
}

# Replay the saved reproducers, then fuzz. Sets result for target $t.
fuzz_one() {
	# Known crashes first: each must pass now (the bug fixed).
	for f in "$here"/fuzz/crashes/"$t"-*; do
		[ -f "$f" ] || continue
		if ! "$bin" "$f" >>"$log" 2>&1; then
			show "$name" "$log"
			result "$name" FAIL \
				"known crash still crashes: ${f#"$root"/} ($(what "$log" 1))"
			return
		fi
	done

	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
		timeout -k 10 $((secs + 300)) "$bin" -max_total_time="$secs" -timeout=25 \
		-rss_limit_mb=2560 -max_len="$(max_len "$t")" -print_final_stats=1 \
		-artifact_prefix="$arts/" "$work" >>"$log" 2>&1
	rc=$?
	case "$rc" in
	0)
		done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
		eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		cov=$(echo "$done_line" | sed -n 's/.*\(cov: [0-9]* ft: [0-9]* corp: [^ ]*\).*/\1/p')
		echo "  $name| ${secs}s: ${runs:-?} runs (${eps:-?}/s), $cov"
		result "$name" PASS
		;;
	124 | 137)
		show "$name" "$log"
		result "$name" FAIL "no result within $((secs + 300))s (libFuzzer hung?)"
		;;
	*)
		crash=$(artifact "$log")
		show "$name" "$log"
		if [ -n "$crash" ]; then
			echo "  $name| crashing input: $crash"
			echo "  $name| reproduce: $bin $crash"
			result "$name" FAIL "$(what "$log" "$rc"); input ${crash#"$root"/}"
		else
			result "$name" FAIL "$(what "$log" "$rc")"
		fi
		;;
	esac
}

for arg in "$@"; do
	t=${arg#fuzz_}
	name=fuzz_$t
	bin=$out/$name
	seeds=$here/fuzz/corpus/$t
	work=$out/corpus-work/$t
	arts=$out/artifacts/$t
	# Runs may share a tree: each writes its own log; the last one done
	# leaves it as build/fuzz/logs/<target>.log.
	log=$out/logs/$t.log.$$

	if [ ! -x "$bin" ]; then
		result "$name" FAIL "$bin not built (make fuzz-build)"
		continue
	fi
	if [ ! -d "$seeds" ]; then
		result "$name" FAIL "no seed corpus $seeds"
		continue
	fi
	mkdir -p "$work" "$arts" "$(dirname "$log")"
	cp "$seeds"/* "$work"/ 2>/dev/null
	: >"$log"
	fuzz_one
	mv -f "$log" "$out/logs/$t.log"
done

[ "$nfail" -eq 0 ]
