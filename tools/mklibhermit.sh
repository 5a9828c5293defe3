#!/bin/sh
# mklibhermit.sh LD OBJCOPY READELF AR OUT.a CORE.a [--net NET.a] [--sdk SDK.a...]
# Build libhermit.a from the kernel's static libraries and the application-side ones.
# Each kernel library becomes one member, an object linked with `ld -r` whose
# internal symbols are local, so an application may define memcpy, printf, ...
# freely: CORE.a is the member every image takes (hermit_entry), NET.a the one the
# link takes only when something refers to one of its public symbols (__hermit_net,
# which sdk/socket.c names).  The symbols one kernel member defines and the other
# names (the core's functions the network calls, net/none.c's weak definitions the
# network replaces) stay global under reserved names, __hermit_k_NAME (spec.py's
# SHARED_SYMBOL_PREFIX, which the loader's symbolizer takes off again).  The members
# of SDK.a (getpid, socket) are application code: archived as they are, searched
# before musl's libc.a, they replace musl's versions unless the application has its own.
set -e
ld=$1 objcopy=$2 readelf=$3 ar=$4 out=$5 core=$6
shift 6
net=
if [ "$1" = --net ]; then
	net=$2
	shift 2
fi
[ "$1" = --sdk ] && shift
here=$(dirname "$(readlink -f "$0")")
abi=$(PYTHONPATH="$here/.." python3 -S -m hermit_build.abi.gen_c --shell) ||
	{ echo "mklibhermit.sh: cannot read hermit's ABI (hermit_build/abi/spec.py)" >&2; exit 1; }
eval "$abi"
prefix=$HERMIT_SHARED_SYMBOL_PREFIX
base=${out%.a}
tmp=$base.tmp
rm -rf "$tmp" "$out"
mkdir "$tmp"

# The global symbols of an object: "D|U VISIBILITY NAME BINDING" (D: defined).
globals() {
	"$readelf" -sW "$1" | awk '$1 ~ /^[0-9]+:$/ && $5 != "LOCAL" && $8 != "" {
		print ($7 == "UND" ? "U" : "D"), $6, $8, $5 }'
}

"$ld" -r --whole-archive "$core" -o "$tmp/core.o"
globals "$tmp/core.o" >"$tmp/core.syms"
: >"$tmp/rename"
if [ -n "$net" ]; then
	"$ld" -r --whole-archive "$net" -o "$tmp/net.o"
	globals "$tmp/net.o" >"$tmp/net.syms"
	# Shared: hidden in the member that defines it, named by the other.  A name
	# both define, neither weakly, would be two kernels' worth of it.
	awk -v prefix="$prefix" '
		FNR == 1 { m++ }
		{ named[m, $3] = 1 }
		$1 == "D" { def[m, $3] = 1; vis[m, $3] = $2; weak[m, $3] = $4 == "WEAK" }
		END {
			for (k in named) {
				split(k, p, SUBSEP); n = p[2]; o = 3 - p[1]
				if (!def[p[1], n] || !named[o, n] || vis[p[1], n] == "DEFAULT")
					continue
				if (def[o, n] && !weak[1, n] && !weak[2, n])
					bad = bad " " n " (defined by both members)"
				if (named[1, prefix n] || named[2, prefix n])
					bad = bad " " prefix n " (exists already)"
				if (!(n in done))
					print n, prefix n
				done[n] = 1
			}
			if (bad != "") {
				print "mklibhermit.sh:" bad > "/dev/stderr"
				exit 1
			}
		}' "$tmp/core.syms" "$tmp/net.syms" >"$tmp/shared"
	LC_ALL=C sort "$tmp/shared" >"$tmp/rename"
fi

# Keep global what each member offers the application or the link (default
# visibility: hermit_entry, __hermit_net) and the shared names; localize the rest.
localize() {
	{
		awk '$1 == "D" && $2 == "DEFAULT" { print $3 }' "$tmp/$1.syms"
		awk '{ print $2 }' "$tmp/rename"
	} >"$tmp/$1.keep"
	"$objcopy" --redefine-syms="$tmp/rename" --keep-global-symbols="$tmp/$1.keep" \
		"$tmp/$1.o" "$2"
}
localize core "$base.o"
[ -z "$net" ] || localize net "$base-net.o"

mkdir "$tmp/sdk"
for lib in "$@"; do
	if [ "$(head -c 7 "$lib")" = '!<thin>' ]; then # Meson's: the members are files ar names
		"$ar" t "$lib" | while read -r m; do cp "$m" "$tmp/sdk/"; done
	else
		"$ar" x --output="$tmp/sdk" "$lib"
	fi
done
set -- "$base.o"
[ -z "$net" ] || set -- "$@" "$base-net.o"
"$ar" rcsD "$out" "$@" "$tmp/sdk"/*
rm -rf "$tmp"
