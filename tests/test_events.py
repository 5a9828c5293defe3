"""uhyve's events for kvm_pvm (hermit_build/uhyve/events.py), without a VM: when an
event counts as due, when the vCPU is left alone, and a guest whose event data
lies outside its memory ends with one line, never a traceback in a thread."""

import threading
import time
from types import SimpleNamespace

import pytest

from hermit_build.abi import C, S
from hermit_build.guestmem import GuestMemory
from hermit_build.uhyve.errors import UhyveError
from hermit_build.uhyve.events import Events

RAM = 1 << 20
SLOTS = 0x8000  # the kernel's hc_event array in these tests
FLAGS = 0x9000  # each cpu's in_user word
KHZ = 1_000_000  # 1 GHz: one TSC tick a nanosecond


def guest(events_at=SLOTS, cpus=2):
    mem = GuestMemory([(0, RAM, bytearray(RAM), 0)])
    fields = dict.fromkeys(S.boot_info.offset, 0)
    fields.update(magic=C.BOOT_INFO_MAGIC, hc_events=events_at, event_entry=0x4000,
                  entry_start=0x3000, entry_end=0x3100)
    mem.write(C.BOOT_INFO_ADDR, S.boot_info.pack(**fields))
    for i in range(cpus):
        put(mem, i, in_user=FLAGS + 8 * i)
    vcpus = [SimpleNamespace(index=i, in_run=False, thread=threading.get_ident(), fd=-1, fast=None)
             for i in range(cpus)]
    return mem, vcpus, Events(mem, vcpus, KHZ, 0, tsc0=0)


def put(mem, cpu, **fields):
    for name, value in fields.items():
        mem.write_u64(SLOTS + S.hc_event.size * cpu + S.hc_event.offset[name], value)


def located(ev):
    """What the ticker does first: find the array once the kernel published it."""
    ev.base, ev.entry, ev.entry_start, ev.entry_end = SLOTS, 0x4000, 0x3000, 0x3100


def test_what_counts_as_due():
    mem, _vcpus, ev = guest()
    located(ev)
    assert not ev.wanted(0)  # nothing armed
    put(mem, 0, due=ev.now_tsc() + 10**9)
    assert not ev.wanted(0)  # a second from now
    put(mem, 0, due=ev.now_tsc() - 1)
    assert ev.wanted(0)
    put(mem, 0, due=0, kick=1)
    assert ev.wanted(0) and not ev.wanted(1)
    put(mem, 0, taken=1)
    assert not ev.wanted(0)  # one already on its way


def test_a_vcpu_in_the_kernel_is_left_alone():
    """in_user 0: deliver() returns before any ioctl (the fake vCPU has no fd)."""
    mem, vcpus, ev = guest()
    located(ev)
    put(mem, 0, kick=1)
    ev.deliver(vcpus[0])
    assert mem.read_u64(SLOTS + S.hc_event.offset["taken"]) == 0


@pytest.mark.parametrize("flag", [RAM, 1 << 63, (1 << 64) - 8])
def test_an_in_user_pointer_outside_ram_ends_the_guest(flag):
    mem, vcpus, ev = guest()
    located(ev)
    put(mem, 0, kick=1, in_user=flag)
    with pytest.raises(UhyveError, match="the guest broke the event protocol"):
        ev.deliver(vcpus[0])


@pytest.mark.parametrize("events_at", [RAM - 8, 1 << 40])
def test_an_event_array_outside_ram_ends_the_guest(events_at):
    """The ticker thread meets the bad array, records it and leaves; the vCPU's
    thread then ends the guest with one line."""
    _mem, vcpus, ev = guest(events_at=events_at)
    vcpus[0].in_run = True
    ev.signum = 0  # the kick: signal 0 checks the thread and delivers nothing
    ev.start()
    ev.thread.join(2)
    assert not ev.thread.is_alive() and ev.fault
    with pytest.raises(UhyveError, match="the guest broke the event protocol"):
        ev.deliver(vcpus[0])


def test_stop_ends_the_ticker():
    _mem, _vcpus, ev = guest()
    ev.start()
    time.sleep(0.02)
    ev.stop()
    ev.thread.join(1)
    assert not ev.thread.is_alive()
