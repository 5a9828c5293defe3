"""Bad input: one clear line on stderr, a non-zero exit, never a traceback or a hung VM."""

import os
import re
import shutil
import subprocess
import time

import pytest
from conftest import KVM, NO_KVM, clean_env, run


def one_line_error(r, *needles):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], r.stderr


def test_missing_file(sdk, tmp_path):
    r = run(sdk, str(tmp_path / "nope"))
    one_line_error(r, "no such file")


def test_not_elf(sdk, tmp_path):
    f = tmp_path / "text"
    f.write_text("hello\n")
    one_line_error(run(sdk, str(f)), "not an ELF file")


def test_host_binary_is_not_hermit(sdk):
    one_line_error(run(sdk, shutil.which("true")), "not a hermit image", "x86_64-hermit-gcc")


def test_other_architecture(sdk, tmp_path):
    data = bytearray((sdk / "extra/tests/hello").read_bytes())
    data[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    f = tmp_path / "arm"
    f.write_bytes(data)
    one_line_error(run(sdk, str(f)), "not an x86_64 ELF")


def test_truncated_image(sdk, tmp_path):
    data = (sdk / "extra/tests/hello").read_bytes()
    f = tmp_path / "short"
    f.write_bytes(data[:5000])
    one_line_error(run(sdk, str(f)), "corrupt")


@pytest.mark.parametrize("var,value,needle", [
    ("HERMIT_MEM", "lots", "HERMIT_MEM='lots' is not a size"),
    ("HERMIT_MEM", "1M", "too small"),
    ("HERMIT_MEM", "65G", "HERMIT_MEM='65G' is too large: hermit gives a guest at most 64G"),
    ("HERMIT_CPUS", "zero", "HERMIT_CPUS='zero'"),
    ("HERMIT_CPUS", "0", "HERMIT_CPUS='0'"),
    ("HERMIT_ISLE", "xen", "HERMIT_ISLE='xen'"),
])
def test_malformed_settings(sdk, var, value, needle):
    one_line_error(run(sdk, "extra/tests/hello", env={var: value}), needle)


@pytest.mark.parametrize("isle", ["uhyve", "qemu"])
def test_too_much_memory_for_the_cli(sdk, isle):
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--isle", isle, "--mem", "100G",
                        str(sdk / "extra/tests/hello")],
                       env=clean_env(), capture_output=True, text=True, timeout=60)
    one_line_error(r, "--mem='100G' is too large", "at most 64G")


def test_uhyve_without_kvm(sdk):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "uhyve",
                                           "HERMIT_KVM_DEVICE": "/nonexistent/kvm"})
    one_line_error(r, "uhyve needs KVM", "/nonexistent/kvm", "HERMIT_ISLE=qemu")


def test_qemu_not_installed(sdk, tmp_path):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "qemu", "PATH": str(tmp_path)})
    one_line_error(r, "QEMU not found", "apt-get install qemu-system-x86")


@pytest.mark.parametrize("isle", ["uhyve", "qemu"])
def test_hanging_guest_times_out(sdk, isle):
    if isle == "uhyve" and not KVM:
        pytest.skip(NO_KVM)
    start = time.monotonic()
    r = run(sdk, "extra/tests/hang", env={"HERMIT_ISLE": isle, "HERMIT_TIMEOUT": "2"})
    assert time.monotonic() - start < 20
    assert r.returncode == 124
    assert r.stdout == "hanging\n"
    assert "did not exit within 2" in r.stderr
    assert "Traceback" not in r.stderr
    if isle == "uhyve":  # where the guest was looping
        assert re.search(r"^hermit: vCPU 0 was at 0x[0-9a-f]+ main\+0x", r.stderr, re.M), r.stderr
    left = subprocess.run(["pgrep", "-f", f"{sdk}/extra/tests/hang"], capture_output=True)
    assert left.returncode == 1, "a QEMU process was left behind"


def test_cli_timeout_flag(sdk):
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--isle", "qemu", "--no-kvm",
                        "--timeout", "1", str(sdk / "extra/tests/hang")],
                       env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 124, r.stderr


def test_no_arguments_prints_usage(sdk):
    r = subprocess.run([str(sdk / "bin/proxy")], env=clean_env(), capture_output=True, text=True)
    assert r.returncode == 2
    assert "usage: proxy APP" in r.stderr


def test_kvm_device_override_is_only_for_uhyve(sdk):
    # HERMIT_KVM=0 QEMU must not need /dev/kvm at all.
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0",
                                           "HERMIT_KVM_DEVICE": "/nonexistent/kvm"})
    assert r.returncode == 0, r.stderr
    assert os.path.exists(sdk / "bin/proxy")
