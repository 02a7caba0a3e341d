#!/bin/sh
# The SYNOPSIS of isoctl(1) is isoctl's command table, as
# `isoctl __man-synopsis` prints it in roff, between the page's two
# marker lines. Rewrite it in place (make man), or with --check only say
# whether the page differs from the table (make check): exit 1 if so.
#
# usage: man-synopsis.sh ISOCTL MANPAGE [--check]
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ] || { [ $# -eq 3 ] && [ "$3" != --check ]; }; then
	echo "usage: $0 ISOCTL MANPAGE [--check]" >&2
	exit 2
fi
isoctl=$1
page=$2
begin='.\" BEGIN SYNOPSIS: generated from the command table by `make man`'
end='.\" END SYNOPSIS'

grep -qxF "$begin" "$page" && grep -qxF "$end" "$page" || {
	echo "$page: no SYNOPSIS markers ('$begin', '$end')" >&2
	exit 2
}
tmp=$(mktemp) || exit 2
syn=$(mktemp) || { rm -f "$tmp"; exit 2; }
trap 'rm -f "$tmp" "$syn"' EXIT
"$isoctl" __man-synopsis >"$syn"
# (awk -v would read the backslashes of the markers as escapes.)
BEGIN_MARK=$begin END_MARK=$end SYN=$syn awk '
	$0 == ENVIRON["BEGIN_MARK"] {
		print
		while ((getline l < ENVIRON["SYN"]) > 0)
			print l
		skip = 1
		next
	}
	$0 == ENVIRON["END_MARK"] { skip = 0 }
	!skip { print }
' "$page" >"$tmp"
if [ $# -eq 3 ]; then
	if ! cmp -s "$page" "$tmp"; then
		echo "$page: its SYNOPSIS is not the command table's; run make man" >&2
		diff -u "$page" "$tmp" >&2 || true
		exit 1
	fi
	exit 0
fi
cmp -s "$page" "$tmp" || cat "$tmp" >"$page"
