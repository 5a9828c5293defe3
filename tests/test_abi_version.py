"""The loader ABI version is checked on both sides: the loader reads the image's ABI
note before it boots it, and the kernel compares the note with what the loader put in
boot_info (for images whose note the loader cannot read)."""

import struct
from pathlib import Path

import pytest
from conftest import run

from hermit_build import elfload
from hermit_build.abi import C
from hermit_build.abi.spec import STRINGS

NAME = STRINGS["NOTE_NAME"].encode() + b"\0"
NOTE = struct.pack("<III", len(NAME), 4, C.NOTE_ABI_VERSION) + NAME.ljust(8, b"\0")


def patched(sdk: Path, tmp_path: Path, version: int, hide: bool) -> Path:
    """hello with its ABI note saying `version`; `hide`: under another owner name, so
    only the kernel (which reads the word itself) sees it."""
    data = bytearray((sdk / "extra/tests/hello").read_bytes())
    at = data.find(NOTE)
    assert at > 0 and data.find(NOTE, at + 1) < 0, "one ABI note in the image"
    desc = at + len(NOTE)
    assert struct.unpack_from("<I", data, desc)[0] == C.ABI_VERSION
    struct.pack_into("<I", data, desc, version)
    if hide:
        data[at + 12] ^= 0x20  # "Hermit" -> "hermit": not the loader's note any more
    image = tmp_path / "hello"
    image.write_bytes(bytes(data))
    image.chmod(0o755)
    return image


def expected(image: Path, version: int) -> str:
    return (f"proxy: {image}: image built for ABI {version}, loader speaks {C.ABI_VERSION}: "
            "rebuild the image with this SDK")


def test_the_note_is_read(sdk):
    assert elfload.load(str(sdk / "extra/tests/hello")) is not None  # the right version: boots


@pytest.mark.parametrize("hide", [False, True], ids=["loader-sees-note", "kernel-checks"])
def test_a_mismatched_image_is_one_line(sdk, loader, tmp_path, hide):
    version = C.ABI_VERSION + 7
    image = patched(sdk, tmp_path, version, hide)
    r = run(sdk, str(image), env=loader, cwd=tmp_path)
    assert r.returncode == 126, r.stderr
    assert r.stdout == ""
    assert r.stderr.splitlines() == [expected(image, version)]


def test_the_unchanged_image_still_runs(sdk, loader, tmp_path):
    """The control: the same copy with the note hidden but the right version boots."""
    image = patched(sdk, tmp_path, C.ABI_VERSION, hide=True)
    r = run(sdk, str(image), env=loader, cwd=tmp_path)
    assert r.returncode == 0 and "Hello World" in r.stdout, r.stderr


@pytest.mark.parametrize("field, value", [("magic", 0x1234), ("abi_version", 99)])
def test_the_kernel_refuses_a_boot_info_it_does_not_understand(sdk, kvm_loader, monkeypatch,
                                                                field, value):
    """A loader of another ABI (simulated: uhyve with one boot_info field changed): the
    kernel ends at once through the EXIT every version sends, naming its own version."""
    from hermit_build.abi import S
    from hermit_build.config import RunConfig
    from hermit_build.errors import AbiMismatch
    from hermit_build.uhyve import run as uhyve_run
    from hermit_build.uhyve.vm import Vm

    original = Vm.write_boot_info

    def write_boot_info(self, *args, **kw):
        original(self, *args, **kw)
        self.mem.write_u64(C.BOOT_INFO_ADDR + S.boot_info.offset[field], value)

    monkeypatch.setattr(Vm, "write_boot_info", write_boot_info)
    image = str(sdk / "extra/tests/hello")
    with pytest.raises(AbiMismatch) as e:
        uhyve_run(RunConfig(image=image, argv=[image], timeout=30), elfload.load(image))
    assert e.value.status == 126
    assert str(e.value) == (f"{image}: image built for ABI {C.ABI_VERSION}, loader speaks "
                            f"{C.ABI_VERSION}: rebuild the image with this SDK")


def test_malformed_notes_are_not_read():
    note = struct.pack("<III", len(NAME), 4, C.NOTE_ABI_VERSION) + NAME.ljust(8, b"\0")
    good = note + struct.pack("<I", 5)
    assert elfload.abi_note(good, 0, len(good)) == 5
    assert elfload.abi_note(good, 0, len(good) - 1) is None  # truncated
    other = struct.pack("<III", 4, 4, C.NOTE_ABI_VERSION) + b"Xen\0" + bytes(4)
    assert elfload.abi_note(other + good, 0, len(other + good)) == 5  # the next note
    huge = struct.pack("<III", 1 << 31, 4, C.NOTE_ABI_VERSION)
    assert elfload.abi_note(huge + good, 0, len(huge + good)) is None
    assert elfload.abi_note(good, len(good) - 2, 1 << 40) is None


def test_the_one_definition_is_used():
    from hermit_build import config
    from hermit_build.deb import binfmt

    assert config.MAX_CPUS == C.MAX_CPUS <= C.HC_MAILBOX_SLOTS
    assert elfload.ELFOSABI_HERMIT == C.IMAGE_OSABI == binfmt.MAGIC[7]
