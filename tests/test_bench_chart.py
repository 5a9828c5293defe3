"""The benchmarks' charts (usr/benchmarks/chart.py): every figure is drawn, a missing
one is not, a zero shows as a hollow dot, and each target as a red tick."""

import sys
import xml.etree.ElementTree as ET

from conftest import ROOT

sys.path.insert(0, str(ROOT / "usr/benchmarks"))
from chart import Row, write_svg  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def test_a_chart_shows_each_figure_and_target(tmp_path):
    rows = [Row("getpid, the real call", {"uhyve": 19.2, "qemu": 22.2}, 2.0),
            Row("share on 1 cpu", {"uhyve": 0.99, "qemu": 0.0}, 0.8),
            Row("write 1 MiB", {"uhyve": 0.85, "qemu": None})]
    path = tmp_path / "t.svg"
    write_svg(path, "t", rows)
    root = ET.parse(path).getroot()
    dots = {c.find(f"{SVG}title").text: c for c in root.iter(f"{SVG}circle")
            if c.find(f"{SVG}title") is not None}
    assert set(dots) == {"uhyve: 19.2×", "qemu: 22.2×", "uhyve: 0.99×", "qemu: 0",
                         "uhyve: 0.85×"}
    assert dots["qemu: 0"].get("fill") == "none"
    assert float(dots["uhyve: 19.2×"].get("cx")) > float(dots["uhyve: 0.99×"].get("cx"))
    ticks = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke") == "red"]
    assert len(ticks) == 2
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "write 1 MiB" in labels and "1×" in labels


def test_network_targets_are_ratios_of_each_round_and_gaps_are_said():
    """network_targets.py: a target's ratio is the median of the rounds' own ratios
    (not the ratio of the medians), a miss is FAIL with its gap, and a configuration
    without its baseline is N/A."""
    from netplaces import Place
    from network_targets import summarize, targets

    cfgs = [Place("native", "native", kind="native"),
            Place("slirp4netns", "slirp4netns", kind="slirp4netns"),
            Place("uhyve", "uhyve"), Place("qemu-kvm", "qemu", "no KVM"),
            Place("uhyve-tap", "uhyve tap", "skipped: no tap backend", kind="tap"),
            Place("qemu-kvm-tap", "qemu tap", "skipped", kind="tap")]
    fig = {"rps": 100.0, "tx": 10.0, "rx": 10.0, "p50": 50.0, "p99": 90.0}
    rounds = {"native": [dict(fig, rps=1000.0)] * 3,
              "slirp4netns": [dict(fig, rps=r) for r in (100.0, 200.0, 400.0)],
              "uhyve": [dict(fig, rps=r, tx=5.0) for r in (110.0, 210.0, 410.0)],
              "qemu-kvm": [], "uhyve-tap": [], "qemu-kvm-tap": []}
    s = summarize(cfgs, rounds, {})
    assert s["uhyve"]["rps_x_slirp4netns_rounds"] == [1.1, 1.05, 410.0 / 400.0]
    assert s["uhyve"]["rps_x_slirp4netns"] == 1.05
    checked = targets(cfgs, s)

    def verdict(config: str, what: str) -> dict:
        return next(t for t in checked if t["config"] == config and what in t["target"])

    assert verdict("uhyve", "requests/s")["verdict"] == "PASS"
    tx = verdict("uhyve", "host to guest")
    assert tx["verdict"] == "FAIL" and "gap 0.50x" in tx["detail"]
    assert {t["verdict"] for t in checked if t["config"] != "uhyve"} == {"N/A"}
