#!/bin/sh
# Install the Debian packages named as arguments that are not installed yet.
# With everything present it prints nothing and touches no network.
set -eu

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: no dpkg-query here (not Debian?); install by hand: $*" >&2
	exit 0
fi

missing=
for pkg in "$@"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing="$missing $pkg"
	fi
done
[ -n "$missing" ] || exit 0

sudo=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=sudo
	else
		echo "deps: missing:$missing; not root and no sudo" >&2
		exit 1
	fi
fi

echo "deps: installing:$missing"
$sudo apt-get update
# $missing is a list of package names: split it on purpose.
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends $missing
