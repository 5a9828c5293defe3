"""The Debian packages, built from the staged install tree without installing them:
control fields, contents, the files the packaging adds, reproducibility and lintian.
(`nox -s deb-system` installs them and builds applications against /opt/hermit.)"""

import gzip
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, disassemble

from hermit_build.deb import binfmt, build_packages
from hermit_build.deb.build import assign
from hermit_build.deb.layout import PACKAGES, PREFIX
from hermit_build.deb.meta import DebError, debian_version, meson_version

TCG = {"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0"}
HERMIT = ROOT / "tools" / "hermit"
CROSS_LINK = "usr/share/meson/cross/x86_64-hermit"


@pytest.fixture(scope="module")
def build_dir() -> Path:
    return Path(os.environ.get("HERMIT_BUILD", ROOT / "build"))


@pytest.fixture(scope="module")
def stage(sdk) -> Path:
    """The destdir of `meson install` (HERMIT_SDK is its /opt/hermit)."""
    if not sdk.as_posix().endswith(PREFIX):
        pytest.skip(f"HERMIT_SDK={sdk} is not a staged {PREFIX}")
    return sdk.parents[1]


@pytest.fixture(scope="module")
def version(build_dir) -> str:
    return debian_version(meson_version(build_dir, ROOT))


@pytest.fixture(scope="module")
def debs(stage, build_dir, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    built = build_packages(stage, out, build=build_dir, work=tmp_path_factory.mktemp("work"))
    return {p.name.split("_")[0]: p for p in built}


def field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def members(deb: Path) -> dict[str, tarfile.TarInfo]:
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.removeprefix("./").rstrip("/"): m for m in tar.getmembers()}


def read_member(deb: Path, path: str) -> bytes:
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile(f"./{path}")
        assert f is not None, path
        return f.read()


def control_file(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "--info", str(deb), name], capture_output=True,
                          text=True, check=True).stdout


# --- names, versions, control fields ------------------------------------------------------------

def test_every_package_is_built_with_the_meson_version(debs, version):
    assert version == debian_version(meson_version(None, ROOT))  # introspection == meson.build
    assert sorted(debs) == sorted(p.name for p in PACKAGES)
    for p in PACKAGES:
        assert debs[p.name].name == f"{p.name}_{version}_{p.architecture}.deb"
        assert field(debs[p.name], "Version") == version


@pytest.mark.parametrize("text,expected", [("0.1.0", "0.1.0"), ("1.2.0-rc1", "1.2.0~rc1")])
def test_debian_version(text, expected):
    assert debian_version(text) == expected


def test_debian_version_rejects_junk():
    with pytest.raises(DebError, match="not usable as a Debian version"):
        debian_version("v1 beta")


def test_control_fields(debs, version):
    same = f"(= {version})"
    expect = {
        "libhermit-dev": {"Depends": "musl-dev", "Section": "libdevel", "Architecture": "amd64"},
        "hermit-toolchain": {"Depends": f"gcc, binutils, musl-dev, libhermit-dev {same}, "
                                        f"hermit-loader {same}", "Architecture": "amd64"},
        "hermit-loader": {"Depends": "python3 (>= 3.11), python3-pyelftools, python3-jinja2, libc6",
                          "Recommends": "qemu-system-x86, libslirp0", "Architecture": "amd64"},
        "hermit-examples": {"Depends": f"hermit-loader {same}", "Architecture": "amd64"},
        "hermit-binfmt": {"Depends": f"hermit-loader {same}", "Architecture": "all"},
        "hermit-toolchain-c++": {"Depends": f"g++, hermit-toolchain {same}"},
        "hermit-toolchain-fortran": {"Depends": f"gfortran, hermit-toolchain {same}",
                                     "Recommends": f"hermit-toolchain-c++ {same}"},
        "hermit": {"Depends": f"libhermit-dev {same}, hermit-toolchain {same}, "
                              f"hermit-loader {same}", "Architecture": "all"},
    }
    for name, fields in expect.items():
        for key, value in fields.items():
            assert field(debs[name], key) == value, (name, key)
        assert field(debs[name], "Priority") == "optional"
        assert "<" in field(debs[name], "Maintainer")
        assert field(debs[name], "Source") == ("" if name == "hermit" else "hermit")
        assert int(field(debs[name], "Installed-Size")) > 0


def test_examples_name_what_their_images_embed(debs):
    built_using = field(debs["hermit-examples"], "Static-Built-Using")
    if not built_using:
        pytest.skip("dpkg does not know where musl's libc.a comes from on this host")
    assert built_using.startswith(("gcc-", "musl (= ")) and "musl (= " in built_using


def test_descriptions(debs):
    for name, deb in debs.items():
        desc = field(deb, "Description").splitlines()
        assert 10 < len(desc[0]) < 80 and not desc[0].lower().startswith(name + " ")
        assert all(len(line) <= 80 for line in desc), name


# --- contents -----------------------------------------------------------------------------------

def test_every_installed_file_is_in_exactly_one_package(debs, sdk):
    staged = set()
    for path in sdk.rglob("*"):
        rel = path.relative_to(sdk).as_posix()
        if (path.is_file() or path.is_symlink()) and "__pycache__" not in rel:
            staged.add(f"{PREFIX.lstrip('/')}/{rel}")
    seen: dict[str, str] = {}
    for name, deb in debs.items():
        for path, m in members(deb).items():
            if not m.isdir():
                assert path not in seen, f"{path} is in {seen.get(path)} and {name}"
                seen[path] = name
    packaged = {p for p in seen if p.startswith(PREFIX.lstrip("/") + "/")}
    assert staged - packaged == set()
    assert packaged - staged == {"opt/hermit/lib/pkgconfig/hermit.pc"}
    assert seen["opt/hermit/x86_64-hermit/lib/libhermit.a"] == "libhermit-dev"
    assert seen["opt/hermit/bin/x86_64-hermit-gcc"] == "hermit-toolchain"
    # C++/OpenMP and Fortran come apart: a C-only SDK pulls in neither g++ nor gfortran.
    cxx, fortran = "hermit-toolchain-c++", "hermit-toolchain-fortran"
    for path in ("bin/x86_64-hermit-g++", "bin/x86_64-hermit-c++",
                 "x86_64-hermit/lib/libstdc++.a", "x86_64-hermit/lib/libgomp.a",
                 "x86_64-hermit/include/omp.h"):
        assert seen[f"opt/hermit/{path}"] == cxx, path
    headers = {n for p, n in seen.items() if p.startswith("opt/hermit/x86_64-hermit/include/c++/")}
    assert headers == {cxx}
    for path in ("bin/x86_64-hermit-gfortran", "x86_64-hermit/lib/libgfortran.a",
                 "x86_64-hermit/lib/libquadmath.a"):
        assert seen[f"opt/hermit/{path}"] == fortran, path
    assert seen["opt/hermit/x86_64-hermit/lib/libgcc_eh.a"] == "libhermit-dev"
    assert seen["opt/hermit/bin/proxy"] == "hermit-loader"
    assert seen["opt/hermit/extra/tests/hello"] == "hermit-examples"
    assert seen["usr/lib/binfmt.d/hermit.conf"] == "hermit-binfmt"
    assert not any(p.endswith(".pyc") for p in seen)


def test_owners_modes_and_mtimes_are_normalised(debs):
    mtimes = set()
    for deb in debs.values():
        for path, m in members(deb).items():
            assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root"), path
            mtimes.add(m.mtime)
            if m.isdir() or (m.isfile() and m.mode & 0o111):
                assert m.mode == 0o755, (path, oct(m.mode))
            elif m.isfile():
                assert m.mode == 0o644, (path, oct(m.mode))
    assert len(mtimes) == 1, mtimes
    assert oct(members(debs["hermit-loader"])["opt/hermit/bin/proxy"].mode) == "0o755"


def test_every_package_has_copyright_and_changelog(debs, version):
    for name, deb in debs.items():
        copyright_ = read_member(deb, f"usr/share/doc/{name}/copyright").decode()
        assert copyright_.startswith("Format: https://www.debian.org/doc/packaging-manuals/")
        assert "License: BSD-3-Clause\n Redistribution and use" in copyright_
        changelog = gzip.decompress(read_member(deb, f"usr/share/doc/{name}/changelog.gz"))
        assert changelog.decode().startswith(f"hermit ({version}) unstable; urgency=medium")


def test_lwip_notice_travels_with_the_kernel(debs, sdk):
    """lwIP's BSD notice (net/lwip/meson.build installs it) is quoted by every package
    whose files embed the kernel, and by none other."""
    if not (sdk / "x86_64-hermit/lib/lwip.COPYRIGHT").is_file():
        pytest.skip("built without the network (Meson option net)")
    for name, deb in debs.items():
        text = read_member(deb, f"usr/share/doc/{name}/copyright").decode()
        names = members(deb)
        embeds = any(n.endswith("/libhermit.a") or n.startswith("opt/hermit/extra/")
                     for n in names)
        assert ("License: BSD-3-Clause-lwIP\n" in text) == embeds, name
        if embeds:
            assert "Swedish Institute of Computer Science" in text, name


def test_cross_file_is_found_by_name(debs):
    deb = debs["hermit-toolchain"]
    link = members(deb)[CROSS_LINK]
    assert link.issym() and link.linkname == f"{PREFIX}/share/meson/cross/x86_64-hermit"
    text = read_member(deb, link.linkname.lstrip("/")).decode()
    assert f"c = '{PREFIX}/bin/x86_64-hermit-gcc'" in text
    assert f"exe_wrapper = ['{PREFIX}/bin/proxy']" in text
    ar = members(deb)["opt/hermit/bin/x86_64-hermit-ar"]
    assert ar.issym() and ar.linkname.startswith("/") and ar.linkname.endswith("/ar")


def test_pkg_config_file(debs, tmp_path, version):
    deb = debs["libhermit-dev"]
    link = members(deb)["usr/share/pkgconfig/hermit.pc"]
    assert link.issym() and link.linkname == f"{PREFIX}/lib/pkgconfig/hermit.pc"
    (tmp_path / "hermit.pc").write_bytes(read_member(deb, link.linkname.lstrip("/")))
    if not shutil.which("pkg-config"):
        pytest.skip("pkg-config is not installed")
    env = clean_env(PKG_CONFIG_PATH=str(tmp_path))

    def pc(*args: str) -> str:
        return subprocess.run(["pkg-config", *args, "hermit"], env=env, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert pc("--variable=cc") == f"{PREFIX}/bin/x86_64-hermit-gcc"
    assert pc("--variable=cxx") == f"{PREFIX}/bin/x86_64-hermit-g++"
    assert pc("--variable=fc") == f"{PREFIX}/bin/x86_64-hermit-gfortran"
    assert pc("--variable=crossfile") == f"{PREFIX}/share/meson/cross/x86_64-hermit"
    assert pc("--modversion") == meson_version(None, ROOT)
    assert pc("--cflags") == f"-I{PREFIX}/x86_64-hermit/include"


def test_maintainer_scripts(debs):
    for name in ("hermit-loader", "hermit-binfmt"):
        for script in ("postinst", "prerm"):
            text = control_file(debs[name], script)
            assert text.startswith("#!/bin/sh\n"), (name, script)
            r = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
    assert "compileall" in control_file(debs["hermit-loader"], "postinst")
    assert "__pycache__" in control_file(debs["hermit-loader"], "prerm")
    assert "/proc/sys/fs/binfmt_misc/hermit" in control_file(debs["hermit-binfmt"], "prerm")
    for name in ("libhermit-dev", "hermit-toolchain", "hermit-examples", "hermit"):
        r = subprocess.run(["dpkg-deb", "--info", str(debs[name]), "postinst"],
                           capture_output=True, text=True)
        assert r.returncode != 0, f"{name} should have no postinst"


def test_binfmt_conf_is_the_cli_rule(debs):
    conf = read_member(debs["hermit-binfmt"], "usr/lib/binfmt.d/hermit.conf").decode()
    rules = [ln for ln in conf.splitlines() if ln and not ln.startswith("#")]
    assert rules == [binfmt.rule(f"{PREFIX}/bin/proxy")]
    r = subprocess.run([str(HERMIT), "binfmt", "rule", "--interpreter", f"{PREFIX}/bin/proxy"],
                       env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == rules[0] + "\n", r.stderr


# --- reproducibility ----------------------------------------------------------------------------

def test_rebuild_from_a_disturbed_copy_is_byte_identical(debs, stage, build_dir, tmp_path):
    """Another copy of the install tree, with new mtimes, other permission bits and a
    strict umask, packed through the command line: the same bytes."""
    copy = tmp_path / "stage"
    shutil.copytree(stage, copy, symlinks=True)
    for i, path in enumerate(sorted(p for p in copy.rglob("*") if not p.is_symlink())):
        os.utime(path, (1_000_000 + i, 2_000_000_000 - i))
        if path.is_file():
            path.chmod(path.stat().st_mode | 0o020 if i % 2 else path.stat().st_mode & ~0o044)
    out = tmp_path / "dist"
    r = subprocess.run([str(HERMIT), "deb", "--stage", str(copy), "--build", str(build_dir),
                        "-o", str(out)], env=clean_env(), capture_output=True, text=True,
                       timeout=300, preexec_fn=lambda: os.umask(0o077))
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == sorted(str(out / d.name) for d in debs.values())
    for deb in debs.values():
        assert (out / deb.name).read_bytes() == deb.read_bytes(), f"{deb.name} differs"


def test_two_build_trees_give_identical_packages(build_dir, tmp_path):
    """Configure, build and package from scratch in a second build tree: the same bytes
    as packages made from a fresh install of the usual build tree."""
    meson, ninja = shutil.which("meson"), shutil.which("ninja")
    if not meson or not ninja:
        pytest.skip("meson or ninja is not on PATH (`nox -s tests` provides both)")
    other = tmp_path / "build2"

    def step(*cmd: str) -> str:
        r = subprocess.run(cmd, cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"{' '.join(cmd)}:\n{r.stdout}{r.stderr}"
        return r.stdout

    # The runtime libraries (minutes cold) reuse the first tree's source and configured
    # trees; their archives are still copied into, and packaged from, the second tree.
    step(meson, "setup", str(other), str(ROOT), "--cross-file", str(ROOT / "hermit.ini"),
         f"-Druntime_work={build_dir / 'sdk/runtime/work'}")
    step(ninja, "-C", str(other))
    first = step(str(HERMIT), "deb", "--build", str(build_dir), "-o", str(tmp_path / "a"))
    step(str(HERMIT), "deb", "--build", str(other), "-o", str(tmp_path / "b"))
    names = sorted(Path(p).name for p in first.split())
    assert len(names) == len(PACKAGES)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_source_date_epoch_sets_every_timestamp(stage, build_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    [deb] = build_packages(stage, tmp_path / "dist", build=build_dir, work=tmp_path / "work",
                           only=["hermit-binfmt"])
    assert {m.mtime for m in members(deb).values()} == {1700000000}
    changelog = gzip.decompress(read_member(deb, "usr/share/doc/hermit-binfmt/changelog.gz"))
    assert "  Tue, 14 Nov 2023 22:13:20 +0000" in changelog.decode()


# --- lintian, errors, a working SDK from the packages -------------------------------------------

def test_lintian_reports_no_errors_or_warnings(debs):
    if not shutil.which("lintian"):
        pytest.skip("lintian is not installed (tools/install-deps installs it)")
    r = subprocess.run(["lintian", "--fail-on", "error,warning", *map(str, debs.values())],
                       capture_output=True, text=True, timeout=600)
    tags = [ln for ln in r.stdout.splitlines() if ln[:2] in ("E:", "W:")]
    assert tags == [] and r.returncode == 0, r.stdout + r.stderr


def test_unclaimed_file_is_an_error(tmp_path):
    sdk = tmp_path / PREFIX.lstrip("/")
    (sdk / "bin").mkdir(parents=True)
    (sdk / "bin" / "proxy").write_text("#!/bin/sh\n")
    (sdk / "stray.txt").write_text("?")
    with pytest.raises(DebError, match=r"belong to no package, first /opt/hermit/stray\.txt"):
        assign(sdk)


@pytest.mark.parametrize("args,needle", [
    (["--stage", "/nonexistent-stage"], "no install tree at /nonexistent-stage/opt/hermit"),
    (["--stage", ".", "--package", "nope"], "no package named nope; the packages are"),
])
def test_cli_errors_are_one_line(args, needle, tmp_path):
    r = subprocess.run([str(HERMIT), "deb", *args, "-o", str(tmp_path)], env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr


def test_extracted_packages_are_a_working_sdk(debs, tmp_path):
    """Every package unpacked into one root: its compiler wrapper and proxy work there."""
    root = tmp_path / "root"
    for deb in debs.values():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    sdk = root / PREFIX.lstrip("/")
    shutil.copy(ROOT / "tests/fixtures/sdk/myapp.c", tmp_path)
    r = subprocess.run([str(sdk / "bin/x86_64-hermit-gcc"), "-O2", "myapp.c", "-o", "myapp"],
                       cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(sdk / "bin/proxy"), "myapp", "pkg"], cwd=tmp_path,
                       env=clean_env(**TCG), capture_output=True, text=True, timeout=120)
    assert (r.stdout, r.returncode) == ("myapp: 1 argument(s)\nPKG\nbuilt with __hermit__\n",
                                        3), r.stderr
    # getpid() is the SDK's function call there too, not musl's system call
    shutil.copy(ROOT / "tests/fixtures/sdk/pid.c", tmp_path)
    r = subprocess.run([str(sdk / "bin/x86_64-hermit-gcc"), "-O2", "pid.c", "-o", "pid"],
                       cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    code = disassemble(tmp_path / "pid", "getpid")
    assert "<getpid>:" in code and "syscall" not in code, code
