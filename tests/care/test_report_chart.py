"""The campaign chart draws Chinese with a CJK font set per figure, and an empty state when empty (#21).

pytest turns warnings into errors, so a "Glyph … missing from font(s) DejaVu Sans" fails these tests.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from care.report import CampaignReport, cjk_font_path, write_png


def _report(**metrics: int) -> CampaignReport:
    return CampaignReport(code="birthday_greeting", name="生日祝福", metrics=Counter(metrics))


def test_chinese_chart_uses_a_per_figure_font_and_leaves_global_state_alone(tmp_path: Path) -> None:
    before = list(matplotlib.rcParams["font.family"])
    png = tmp_path / "r.png"
    write_png(_report(delivered=120, replied=9, suppressed=30), png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(matplotlib.rcParams["font.family"]) == before


@pytest.mark.skipif(not Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").is_file(),
                    reason="fonts-wqy-microhei not installed (.ci/run installs it)")  # fmt: skip
def test_the_installed_cjk_font_is_found() -> None:
    assert cjk_font_path() == "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def test_an_empty_campaign_draws_an_empty_state_not_empty_axes(tmp_path: Path) -> None:
    empty, full = tmp_path / "e.png", tmp_path / "f.png"
    write_png(_report(), empty)
    write_png(_report(delivered=5), full)
    # The empty state is text in a blank frame: far fewer coloured (bar) pixels than a bar chart.
    def green(path: Path) -> int:
        img = Image.open(path).convert("RGB")
        return sum(1 for p in img.get_flattened_data() if p == (0x2E, 0x7D, 0x32))

    assert green(empty) == 0 and green(full) > 100
