"""Which installed file goes into which Debian package, and what each package needs.

Every file of the Meson install tree is claimed by exactly one package (the first
whose pattern matches); a file nobody claims stops the build, so a new installed
file cannot silently go missing from the packages.
"""

from dataclasses import dataclass
from fnmatch import fnmatch

from ..abi import C

PREFIX = "/opt/hermit"
SOURCE = "hermit"  # the source package every binary package is built from
# The first paragraph of every package's description, as Debian packages share one.
INTRO = ("hermit is a lightweight x86-64 unikernel in the spirit of HermitCore: "
         "an application written in C is linked with the kernel into one ELF image "
         "that runs alone in a virtual machine.\n\n")
CROSS_NAME = "x86_64-hermit"  # as in hermit_build.toolchain (imported lazily there)


@dataclass(frozen=True)
class Generated:
    """A file the packaging adds: rendered from templates/deb/<template>."""

    path: str  # absolute path on the target system
    template: str
    mode: int = 0o644


@dataclass(frozen=True)
class Package:
    name: str
    section: str
    architecture: str  # "amd64" (x86-64 code or an x86-64 host compiler) or "all"
    synopsis: str
    description: str  # paragraphs separated by blank lines; wrapped when rendered
    claims: tuple[str, ...] = ()  # fnmatch patterns relative to the prefix
    depends: tuple[str, ...] = ()  # "{version}" is replaced by the package version
    recommends: tuple[str, ...] = ()
    suggests: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (absolute link, absolute target)
    generated: tuple[Generated, ...] = ()
    scripts: tuple[str, ...] = ()  # maintainer scripts, templates/deb/<name>.<script>.j2
    static_built_using: bool = False  # its images embed musl's libc.a and libgcc
    built_using_musl: bool = False  # it ships a libc.a built from musl's source


SAME = "(= {version})"

# The runtime libraries of C++ (with OpenMP's) and of Fortran, built for musl from
# Debian's gcc source (tools/mkruntime.sh); claimed before libhermit-dev claims the rest
# of the sysroot, so that a C-only SDK pulls in neither g++ nor gfortran.
CXX_CLAIMS = tuple(f"{CROSS_NAME}/lib/{a}" for a in ("libstdc++.a", "libsupc++.a",
                                                      "libatomic.a", "libgomp.a")) + (
    f"{CROSS_NAME}/include/c++/*", f"{CROSS_NAME}/include/omp.h",
    f"bin/{CROSS_NAME}-g++", f"bin/{CROSS_NAME}-c++")
FORTRAN_CLAIMS = (f"{CROSS_NAME}/lib/libgfortran.a", f"{CROSS_NAME}/lib/libquadmath.a",
                  f"bin/{CROSS_NAME}-gfortran")

PACKAGES: tuple[Package, ...] = (
    Package(
        name="hermit-toolchain-c++",
        section="devel",
        architecture="amd64",
        synopsis="hermit unikernel - C++ and OpenMP for hermit applications",
        description=(
            INTRO +
            f"This package contains {PREFIX}/bin/x86_64-hermit-g++ (and -c++), GCC's C++ "
            "runtime (libstdc++, libsupc++, libatomic) and OpenMP runtime (libgomp) "
            "built for musl from Debian's gcc source, static, and their headers. "
            "x86_64-hermit-gcc -fopenmp links libgomp from here."),
        claims=CXX_CLAIMS,
        depends=("g++", f"hermit-toolchain {SAME}"),
        static_built_using=True,
    ),
    Package(
        name="hermit-toolchain-fortran",
        section="devel",
        architecture="amd64",
        synopsis="hermit unikernel - Fortran for hermit applications",
        description=(
            INTRO +
            f"This package contains {PREFIX}/bin/x86_64-hermit-gfortran and GCC's "
            "Fortran runtime (libgfortran, with libquadmath for real(16)) built for "
            "musl from Debian's gcc source, static."),
        claims=FORTRAN_CLAIMS,
        depends=("gfortran", f"hermit-toolchain {SAME}"),
        recommends=(f"hermit-toolchain-c++ {SAME}",),
        static_built_using=True,
    ),
    Package(
        name="libhermit-dev",
        section="libdevel",
        architecture="amd64",
        synopsis="hermit unikernel - kernel library and headers",
        description=(
            INTRO +
            "This package contains the kernel as a static library (libhermit.a), the "
            "SDK's C library (musl built from Debian's source with its system calls "
            "made as calls into the kernel), the header of the loader interface and a "
            "pkg-config file (hermit.pc). "
            f"Everything lives under {PREFIX}."),
        claims=(f"{CROSS_NAME}/*",),
        depends=("musl-dev",),
        built_using_musl=True,
        recommends=(f"hermit-toolchain {SAME}",),
        links=(("/usr/share/pkgconfig/hermit.pc", f"{PREFIX}/lib/pkgconfig/hermit.pc"),),
        generated=(Generated(f"{PREFIX}/lib/pkgconfig/hermit.pc", "hermit.pc.j2"),),
    ),
    Package(
        name="hermit-toolchain",
        section="devel",
        architecture="amd64",
        synopsis="hermit unikernel - compiler wrapper and Meson cross-file",
        description=(
            INTRO +
            f"This package contains {PREFIX}/bin/x86_64-hermit-gcc, which compiles with "
            "the host GCC and musl's headers and links hermit images, the "
            "x86_64-hermit-* names of the binutils, and a Meson cross-file that Meson "
            "finds by name: meson setup build --cross-file x86_64-hermit. Its "
            "exe_wrapper runs the tests of a project inside the unikernel."),
        claims=(f"bin/{CROSS_NAME}-*", "share/meson/*", "share/hermit/*"),
        depends=("gcc", "binutils", "musl-dev", f"libhermit-dev {SAME}",
                 f"hermit-loader {SAME}"),
        suggests=("meson", "ninja-build", "make", "pkgconf | pkg-config"),
        links=((f"/usr/share/meson/cross/{CROSS_NAME}",
                f"{PREFIX}/share/meson/cross/{CROSS_NAME}"),),
    ),
    Package(
        name="hermit-loader",
        section="otherosfs",
        architecture="amd64",
        synopsis="hermit unikernel - proxy, uhyve and QEMU runners",
        description=(
            INTRO +
            f"This package contains {PREFIX}/bin/proxy, which boots a hermit image "
            "as HermitCore's proxy did (configured by HERMIT_* variables), and "
            f"{PREFIX}/bin/hermit (run, inspect, cross-file, binfmt). The images run "
            "under uhyve, a small KVM loader written in Python, or under QEMU, with "
            "or without KVM."),
        claims=("bin/proxy", "bin/hermit", "lib/hermit/*"),
        # libc6: the loader's compiled transfers (_hermit_fastio, used when its
        # Python is the one it was built for; otherwise the Python path serves)
        depends=("python3 (>= 3.11)", "python3-pyelftools", "python3-jinja2", "libc6"),
        # libslirp0: uhyve's user-mode network, loaded when a guest asks for a NIC
        recommends=("qemu-system-x86", "libslirp0"),
        suggests=("hermit-binfmt",),
        scripts=("postinst", "prerm"),
    ),
    Package(
        name="hermit-examples",
        section="misc",
        architecture="amd64",
        synopsis="hermit unikernel - demo and test applications",
        description=(
            INTRO +
            f"This package contains ready-built images under {PREFIX}/extra: the "
            "demo and test applications (hello, argv_envp, exit codes, crashes) and "
            f"the benchmarks. Run one with {PREFIX}/bin/proxy {PREFIX}/extra/tests/hello."),
        claims=("extra/*",),
        depends=(f"hermit-loader {SAME}",),
        static_built_using=True,
    ),
    Package(
        name="hermit-binfmt",
        section="otherosfs",
        architecture="all",
        synopsis="hermit unikernel - run hermit images directly (binfmt_misc)",
        description=(
            INTRO +
            f"Installing this package registers hermit images (ELF OSABI {C.IMAGE_OSABI:#x}) with "
            "the kernel's binfmt_misc, so that executing an image runs it through "
            f"{PREFIX}/bin/proxy, as with HermitCore. Removing the package unregisters "
            "them. Without this package, the same is available on demand with the "
            "command: hermit binfmt register."),
        depends=(f"hermit-loader {SAME}",),
        generated=(Generated("/usr/lib/binfmt.d/hermit.conf", "binfmt.conf.j2"),),
        scripts=("postinst", "prerm"),
    ),
    Package(
        name="hermit",
        section="metapackages",
        architecture="all",
        synopsis="SDK and loaders of the hermit unikernel (metapackage)",
        description=(
            INTRO +
            "This metapackage installs everything needed to build hermit "
            "applications and run them: the kernel library, the compiler wrapper "
            "with its Meson cross-file, and the loaders."),
        depends=(f"libhermit-dev {SAME}", f"hermit-toolchain {SAME}", f"hermit-loader {SAME}"),
        recommends=(f"hermit-examples {SAME}",),
        suggests=("hermit-binfmt",),
    ),
)


def package_named(name: str) -> Package:
    for p in PACKAGES:
        if p.name == name:
            return p
    raise KeyError(name)


def owner(rel: str) -> Package | None:
    """The package that claims a path relative to the prefix, or None."""
    for p in PACKAGES:
        if any(fnmatch(rel, pattern) for pattern in p.claims):
            return p
    return None


def skipped(rel: str) -> bool:
    """Byte-code is compiled on the target (postinst), not shipped."""
    return "__pycache__" in rel.split("/") or rel.endswith((".pyc", ".pyo"))
