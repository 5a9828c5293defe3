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
