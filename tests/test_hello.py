"""The demo and the basic contract: output, arguments, environment, exit status."""

from conftest import run


def test_hello(sdk, loader):
    r = run(sdk, "extra/tests/hello", "arg1", "arg 2", env=loader)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Hello World!!!"
    assert lines[1] == f"argv[0] = {sdk}/extra/tests/hello"
    assert lines[2:4] == ["argv[1] = arg1", "argv[2] = arg 2"]
    assert lines[4] == "Hostname: hermit"


def test_argv_envp(sdk, loader):
    env = dict(loader, HERMIT_TEST_PROBE="probe=42 ü")
    r = run(sdk, "extra/tests/argv_envp", "a", "", "c", env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:5] == ["argc = 4", f"argv[0] = {sdk}/extra/tests/argv_envp", "argv[1] = a",
                       "argv[2] = ", "argv[3] = c"]
    assert "env HERMIT_TEST_PROBE=probe=42 ü" in out
    assert out[-1] == "getenv(HERMIT_TEST_PROBE) = probe=42 ü"


def test_exit_status_and_streams(sdk, loader):
    r = run(sdk, "extra/tests/exit_code", "42", env=loader)
    assert r.returncode == 42
    assert r.stdout == "to stdout\n"
    assert r.stderr == "to stderr\n"


def test_abort_is_sigabrt(sdk, loader):
    r = run(sdk, "extra/tests/exit_code", "abort", env=loader)
    assert r.returncode == 128 + 6
    assert "killed by signal 6 (SIGABRT)" in r.stderr


def test_verbose_prints_kernel_log(sdk, loader):
    r = run(sdk, "extra/tests/hello", env=dict(loader, HERMIT_VERBOSE="1"))
    assert r.returncode == 0, r.stderr
    assert "hermit: 2048 MiB" in r.stderr
    assert "exit status 0" in r.stderr


def test_memory_size_reaches_guest(sdk, loader):
    r = run(sdk, "extra/tests/hello", env=dict(loader, HERMIT_MEM="256M", HERMIT_VERBOSE="1"))
    assert r.returncode == 0, r.stderr
    assert "hermit: 256 MiB" in r.stderr


def test_arguments_that_are_not_utf8(sdk, tmp_path):
    import subprocess

    from conftest import clean_env

    r = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/argv_envp"), b"caf\xe9"],
                       env=clean_env(HERMIT_ISLE="qemu", HERMIT_KVM="0"), capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert b"argv[1] = caf\xe9\n" in r.stdout
