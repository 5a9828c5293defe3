"""HERMIT_STATS: the statistics of a run are there and plausible under every loader:
boot to main, run time, host calls counted by number and by path (with a VM exit or
doorbell, or taken by the poller without one), pages touched, peak guest memory;
uhyve's VM exits by kind."""

import re
import subprocess

from conftest import clean_env, run


def number(pattern: str, text: str) -> float:
    m = re.search(pattern, text, re.M)
    assert m, f"no {pattern!r} in:\n{text}"
    return float(m[1])


def boot_bound_ms(verbose_stderr: str) -> float:
    """1 ms (issue 14), or on kvm_pvm 100 of the host's traps: booting takes ~25
    privileged instructions and ~40 first touches of a page, each a trap to the
    hypervisor, which costs 5-7 us on the AMD hosts the bound was set on (boot to main
    0.66-0.8 ms) and ~30 us on Intel ones (2.1-2.3 ms, a gap the bench prints)."""
    m = re.search(r"^hermit: kvm_pvm: a privileged instruction traps for (\d+) us$",
                  verbose_stderr, re.M)
    return max(1.0, 0.1 * int(m[1])) if m else 1.0


def test_stats_fields(sdk, loader, tmp_path):
    r = run(sdk, "extra/tests/syscalls", env={**loader, "HERMIT_STATS": "1"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    err = r.stderr
    uhyve = loader["HERMIT_ISLE"] == "uhyve"
    assert "hermit stats (" + ("uhyve" if uhyve else "qemu") in err
    main_ms = number(r"^  main +([\d.]+) ms after the first instruction", err)
    assert 0 < main_ms < 1000.0
    if uhyve:  # the bound for the kernel's boot, on the best of 3 (a busy host)
        hellos = [run(sdk, "extra/tests/hello",
                      env={**loader, "HERMIT_STATS": "1", "HERMIT_VERBOSE": "1"}).stderr
                  for _ in range(2)]
        best = min([main_ms] + [number(r"^  main +([\d.]+) ms ", e) for e in hellos])
        assert best < boot_bound_ms(hellos[0]), hellos[0]
    run_ms = number(r"^  run time +([\d.]+) ms", err)
    assert main_ms < run_ms < 60_000
    total = number(r"^  host calls +(\d+) in [\d.]+ ms: ", err)
    rang = number(r"^  host calls .*: (\d+) with a (?:VM exit|doorbell), ", err)
    polled = number(r"^  host calls .*, (\d+) served by the poller without one$", err)
    assert total == rang + polled and total >= 7  # 2 openat, write, read, 2 close, writev
    assert number(r"^    openat +(\d+) ", err) == 2
    row = re.search(r"^    read +1 +[\d.]+ ms  (?:VM exit|doorbell) (\d) +poller (\d)$", err, re.M)
    assert row and int(row[1]) + int(row[2]) == 1, err
    touched = number(r"^  pages touched +(\d+) ", err)
    peak = number(r"^  peak guest memory +[\d.]+ MiB \((\d+) pages", err)
    assert 100 < touched < (1 << 20) and 100 < peak < (1 << 20)
    if uhyve:
        exits = number(r"^  VM exits +(\d+): ", err)
        assert exits >= rang  # each call that rang is an `outl`: an exit of its own
        assert re.search(r"^  VM exits .*io syscall \d+", err, re.M), err
        first = number(r"^  first instruction +([\d.]+) ms after the loader", err)
        assert 0 < first < 10_000
    else:
        assert "VM exits            not known under QEMU" in err


def test_stats_file_and_flag(sdk, tmp_path):
    out = tmp_path / "stats.txt"
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--isle", "qemu", "--no-kvm",
                        "--stats-file", str(out), str(sdk / "extra/tests/hello")],
                       env=clean_env(), cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "hermit stats" not in r.stderr
    text = out.read_text()
    assert text.startswith("hermit stats (qemu/tcg, 1 cpu(s))\n")
    assert re.search(r"^    writev +\d+ ", text, re.M), text


def test_off_by_default(sdk, tmp_path):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0",
                                            "HERMIT_STATS": "0", "HERMIT_STRACE": "0"},
            cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
