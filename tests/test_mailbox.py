"""The hypercall mailbox both loaders read (hermit_build/mailbox.py), without a VM:
a ring is a hint, never a count.  kvm_pvm now and then performs one port write
twice; a repeated ring must neither serve a call twice nor answer the next one."""

import threading

import pytest

from hermit_build.abi import C, S
from hermit_build.guestmem import GuestFault, GuestMemory
from hermit_build.mailbox import Mailbox

RAM = 1 << 20
BOX = 0x8000  # where the kernel's slot array lies in these tests


def guest(mailbox_at=BOX):
    mem = GuestMemory([(0, RAM, bytearray(RAM), 0)])
    fields = dict.fromkeys(S.boot_info.offset, 0)
    fields.update(magic=C.BOOT_INFO_MAGIC, hc_mailbox=mailbox_at)
    mem.write(C.BOOT_INFO_ADDR, S.boot_info.pack(**fields))
    return mem, Mailbox(mem)


def call(mem, slot, nr, gpa):
    """What the kernel does: gpa and nr, then seq one more than the slot's last."""
    at = BOX + S.hc_slot.size * slot
    seq = mem.read_u64(at + S.hc_slot.offset["seq"]) + 1
    mem.write_u64(at + S.hc_slot.offset["gpa"], gpa)
    mem.write_u64(at + S.hc_slot.offset["nr"], nr)
    mem.write_u64(at + S.hc_slot.offset["seq"], seq)
    return seq


def done(mem, slot):
    return mem.read_u64(BOX + S.hc_slot.size * slot + S.hc_slot.offset["done"])


def test_a_call_is_taken_once_and_answered_with_its_number():
    mem, box = guest()
    seq = call(mem, 3, 8, 0x1234)
    assert box.take(3) == (8, 0x1234, seq)
    assert box.take(3) is None  # rung twice while it is served
    assert done(mem, 3) != seq
    box.answer(3, seq)
    assert done(mem, 3) == seq
    assert box.take(3) is None  # rung twice after it was answered


def test_a_late_ring_serves_the_next_call_once():
    mem, box = guest()
    first = call(mem, 0, 8, 0x1000)
    assert box.take(0) == (8, 0x1000, first)
    box.answer(0, first)
    second = call(mem, 0, 9, 0x2000)  # the kernel goes on before the repeat arrives
    assert box.take(0) == (9, 0x2000, second)  # the repeat of the first ring
    assert box.take(0) is None  # the second call's own ring
    box.answer(0, second)
    assert done(mem, 0) == second


def test_slots_are_independent():
    mem, box = guest()
    a, b = call(mem, 0, 8, 0x1000), call(mem, 1, 8, 0x2000)
    assert box.take(0) == (8, 0x1000, a)
    assert box.take(1) == (8, 0x2000, b)
    box.answer(1, b)
    assert (done(mem, 0), done(mem, 1)) == (0, b)


def test_rings_racing_answers_serve_each_call_once():
    """Workers answer on their own threads while the rings (each sent twice) arrive."""
    mem, box = guest()
    served, rounds = [], 2000
    answered = threading.Semaphore(0)

    def worker(job):
        served.append(job[2])
        box.answer(0, job[2])
        answered.release()

    for _ in range(rounds):
        call(mem, 0, 8, 0x1000)
        for _ring in range(2):
            job = box.take(0)
            if job:
                threading.Thread(target=worker, args=(job,)).start()
        answered.acquire()  # the kernel waits for done == seq before its next call
    assert served == list(range(1, rounds + 1))


@pytest.mark.parametrize("slot", [-1, C.HC_MAILBOX_SLOTS, 1 << 40])
def test_no_such_slot(slot):
    _mem, box = guest()
    with pytest.raises(ValueError, match="no mailbox slot"):
        box.take(slot)


def test_no_mailbox_set_up():
    _mem, box = guest(mailbox_at=0)
    with pytest.raises(ValueError, match="no mailbox slot 0"):
        box.take(0)


def test_mailbox_outside_guest_memory():
    _mem, box = guest(mailbox_at=RAM - 8)
    with pytest.raises(GuestFault):
        box.take(0)
