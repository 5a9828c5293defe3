#!/bin/sh
# mklibhermit.sh LD OBJCOPY AR OUT.a IN.a
# Link the kernel's objects into one, make its hidden symbols local (so an
# application may define memcpy, printf, ... freely) and archive it.
set -e
ld=$1 objcopy=$2 ar=$3 out=$4 in=$5
obj=${out%.a}.o
"$ld" -r --whole-archive "$in" -o "$obj"
"$objcopy" --localize-hidden "$obj"
rm -f "$out"
"$ar" rcsD "$out" "$obj"
