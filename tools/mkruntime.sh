#!/bin/sh
# mkruntime.sh DEBSRC OUT LIB...: GCC's runtime libraries for hermit applications,
# built for musl from Debian's source package of the host's own GCC.
#
# The host GCC (the compiler x86_64-hermit-gcc drives) compiles each runtime library
# directory of its own source (libstdc++-v3, libgomp, ...) as a target library for
# x86_64-linux-musl against musl's headers, static: the compiler itself is never
# built.  libgcc.a is the host's (it needs nothing from a C library); its unwinder
# (libgcc_eh.a) is rebuilt here, because the host's finds frames with glibc's
# _dl_find_object, whereas this one walks musl's dl_iterate_phdr.
#
# Everything is kept under OUT/work (source, configured trees), so a second run only
# copies; OUT/ receives the archives, OUT/c++/N the C++ headers, OUT/omp.h.
# LIB: libstdc++-v3 libgomp libatomic libquadmath libbacktrace libgfortran (libgfortran
# uses the two before it, from their build trees).
set -eu
[ $# -ge 3 ] || { echo "usage: mkruntime.sh DEBSRC OUT LIB..." >&2; exit 1; }
debsrc=$1 out=$(realpath -m "$2")
shift 2
cc=${HERMIT_HOST_CC:-gcc}
ver=$($cc -dumpfullversion)
major=${ver%%.*}
jobs=${MKRUNTIME_JOBS:-$(nproc)}
# Another build tree's work directory may be named to reuse its source and configured
# trees (Meson option runtime_work): a second build tree then takes seconds, not minutes.
work=${MKRUNTIME_WORK:-$out/work}

die() { echo "mkruntime: $*" >&2; exit 1; }
for d in /usr/lib/x86_64-linux-musl /usr/lib/musl/lib /usr/local/musl/lib; do
	[ -f "$d/musl-gcc.specs" ] && { specs=$d/musl-gcc.specs; break; }
done
[ -n "${specs:-}" ] || die "musl-gcc.specs not found; install it with: apt-get install musl-tools"
for tool in g++ gfortran; do
	command -v "${cc%gcc}$tool" >/dev/null || die "${cc%gcc}$tool not found; install it with: apt-get install $tool"
done
gxx=${cc%gcc}g++
gfc=${cc%gcc}gfortran

# The source: Debian's gcc-N package (its upstream tarball, unpacked once; later runs
# ask apt again only when the host compiler's version changed).  Debian's patches are
# not applied: they concern the compiler, its packaging and multiarch paths.
mkdir -p "$work"
src=$work/src
if [ "$(cat "$src/gcc/BASE-VER" 2>/dev/null)" = "$ver" ] && [ -f "$src/.from" ]; then
	pkg=$(cat "$src/.from")
else
	pkg=$("$debsrc" "gcc-$major" "$work/debsrc") || exit 1
fi
if [ "$(cat "$src/.from" 2>/dev/null)" != "$pkg" ]; then
	tarball=$(ls "$pkg"/gcc-*.tar.* 2>/dev/null | head -n 1)
	[ -n "$tarball" ] || die "no GCC tarball in $pkg"
	rm -rf "$src" && mkdir -p "$src"
	# The testsuites are not built; their Makefile.in files are what configure needs.
	tar -xf "$tarball" -C "$src" --strip-components=1 --exclude='*/testsuite/*' \
		--exclude='gcc/*' --exclude='libgo' --exclude='libphobos' --exclude='libsanitizer' \
		--exclude='libada' --exclude='gcc/testsuite'
	tar -xf "$tarball" -C "$src" --strip-components=1 --wildcards \
		'*/testsuite/Makefile.in' '*/testsuite/*.exp.in' '*/gcc/BASE-VER' '*/gcc/DATESTAMP' \
		'*/gcc/DEV-PHASE' '*/gcc/*.h'
	[ "$(cat "$src/gcc/BASE-VER")" = "$ver" ] ||
		die "$tarball is GCC $(cat "$src/gcc/BASE-VER"), the host compiler is $ver"
	echo "$pkg" > "$src/.from"
fi

host=x86_64-linux-musl
# Paths under the work directory are not recorded (assert's __FILE__): the archives
# are the same bytes whichever build tree made them.
flags="-O2 -fno-pie -ffile-prefix-map=$work=."
# Configured trees sit where GCC's top-level build puts target libraries
# ($work/build/<lib>, the unwinder's gthr-default.h in $work/build/libgcc), which the
# libraries' configure and Makefiles expect; $work/gcc stands for the compiler's build
# directory, which they name in -I but need nothing from.
mkdir -p "$work/gcc"
unwinder() {
	b=$work/build/libgcc
	mkdir -p "$b"
	# What GCC's own build generates for libgcc (tconfig.h, tm.h ...), reduced to what
	# the unwinder reads: frames are found through PT_GNU_EH_FRAME and dl_iterate_phdr;
	# threads are always on (musl is one library; no weak pthread references).
	printf '#define USED_FOR_TARGET\n#define HAVE_LD_EH_FRAME_HDR 1\n#define TARGET_DL_ITERATE_PHDR 1\n' > "$b/tconfig.h"
	printf '#define DWARF_REG_TO_UNWIND_COLUMN(REGNO) (REGNO)\n#define GTHREAD_USE_WEAK 0\n' > "$b/tm.h"
	printf '#include "i386/value-unwind.h"\n#include "i386/elf-lib.h"\n' > "$b/libgcc_tm.h"
	printf '#include "config/i386/linux-unwind.h"\n' > "$b/md-unwind-support.h"
	printf '#include "gthr-posix.h"\n' > "$b/gthr-default.h"
	printf '#define HAVE_GETIPINFO 1\n' > "$b/auto-target.h"
	objs=
	for f in unwind-dw2 unwind-dw2-fde-dip unwind-sjlj unwind-c emutls; do
		$cc -specs "$specs" $flags -fbuilding-libgcc -fexceptions -fnon-call-exceptions \
			-fvisibility=hidden -DHIDE_EXPORTS -DIN_GCC -DIN_LIBGCC2 -DCROSS_DIRECTORY_STRUCTURE \
			-I "$b" -I "$src/libgcc" -I "$src/libgcc/config" -I "$src/gcc" -I "$src/include" \
			-include "$b/auto-target.h" -c "$src/libgcc/$f.c" -o "$b/$f.o"
		objs="$objs $b/$f.o"
	done
	rm -f "$b/libgcc_eh.a" && ar rcs "$b/libgcc_eh.a" $objs
	cp "$b/libgcc_eh.a" "$out/"
}

library() {
	lib=$1 b=$work/build/$1
	mkdir -p "$b"
	if [ ! -f "$b/Makefile" ]; then
		echo "mkruntime: configuring $lib"
		# libstdc++: threads always on (see the unwinder), C locale "generic" (musl's).
		(cd "$b" && "$src/$lib/configure" --host=$host --build=x86_64-linux-gnu --prefix=/ \
			--with-gxx-include-dir=/include/c++/$major --disable-shared --enable-static \
			--disable-multilib --disable-nls --disable-libstdcxx-pch --enable-threads=posix \
			--enable-tls --disable-symvers --disable-werror \
			CC="$cc -specs $specs" CXX="$gxx -specs $specs" FC="$gfc -specs $specs" \
			AR=ar RANLIB=ranlib NM=nm CFLAGS="$flags" CXXFLAGS="$flags -D_GLIBCXX_GTHREAD_USE_WEAK=0" \
			FCFLAGS="$flags" LDFLAGS=-static > "$b/mkruntime-configure.log" 2>&1) ||
			{ tail -n 20 "$b/mkruntime-configure.log" >&2; rm -f "$b/Makefile"; die "configuring $lib failed (see $b/config.log)"; }
	fi
	echo "mkruntime: building $lib"
	make -C "$b" -j"$jobs" > "$b/mkruntime-make.log" 2>&1 ||
		{ tail -n 30 "$b/mkruntime-make.log" >&2; die "building $lib failed (see $b/mkruntime-make.log)"; }
	rm -rf "$work/root"
	make -C "$b" install DESTDIR="$work/root" > "$b/mkruntime-install.log" 2>&1 ||
		{ tail -n 30 "$b/mkruntime-install.log" >&2; die "installing $lib failed"; }
	for a in "$work"/root/lib/*.a; do [ -f "$a" ] && cp "$a" "$out/"; done
	case $lib in
	libstdc++-v3)
		rm -rf "$out/c++" && cp -r "$work/root/include/c++" "$out/c++"
		# Applications compile against these headers too: pthread always linked (see above).
		sed -i 's|^#define _GLIBCXX_CXX_CONFIG_H 1$|&\n\n/* hermit: musl is one library, threads are always on. */\n#define _GLIBCXX_GTHREAD_USE_WEAK 0|' \
			"$out/c++/$major/$host/bits/c++config.h" ;;
	libgomp) cp "$b/omp.h" "$out/omp.h" ;;
	esac
}

unwinder
for lib in "$@"; do
	library "$lib"
done
