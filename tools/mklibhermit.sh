#!/bin/sh
# mklibhermit.sh LD OBJCOPY AR OUT.a KERNEL.a [SDK.a...]
# Link the kernel's objects into one, make its hidden symbols local (so an
# application may define memcpy, printf, ... freely) and archive it together with
# the members of SDK.a: application-side code (getpid) that, being searched before
# musl's libc.a, replaces musl's version unless the application has its own.
set -e
ld=$1 objcopy=$2 ar=$3 out=$4 in=$5
shift 5
obj=${out%.a}.o
"$ld" -r --whole-archive "$in" -o "$obj"
"$objcopy" --localize-hidden "$obj"
members=${out%.a}.sdk
rm -rf "$members" "$out"
mkdir "$members"
for lib in "$@"; do
	if [ "$(head -c 7 "$lib")" = '!<thin>' ]; then # Meson's: the members are files ar names
		"$ar" t "$lib" | while read -r m; do cp "$m" "$members/"; done
	else
		"$ar" x --output="$members" "$lib"
	fi
done
"$ar" rcsD "$out" "$obj" "$members"/*
rm -rf "$members"
