"""Rendering license faces: real PDFs checked with poppler and two QR decoders."""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from signing import fonts
from signing.errors import FontNotFoundError, RenderError
from signing.qrsymbol import qr_version
from signing.render import FaceRow, LicenseFace, render_license

FaceFactory = Callable[..., LicenseFace]


def page_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"],
                         capture_output=True, text=True, check=True)
    return out.stdout


def page_count(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    match = re.search(r"^Pages:\s+(\d+)", out.stdout, re.MULTILINE)
    assert match
    return int(match.group(1))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_license_is_one_a4_page_showing_every_row(face_factory: FaceFactory,
                                                   tmp_path: Path) -> None:
    pdf = render_license(face_factory())
    assert pdf.startswith(b"%PDF-")
    assert page_count(pdf, tmp_path) == 1
    text = squeeze(page_text(pdf, tmp_path))
    for expected in ("营业执照", "编号：110108012345678", "北京云栖数智科技有限公司",
                     "91110108MA01W8XK8G", "有限责任公司（自然人投资或控股）", "张伟",
                     "人民币壹仟万元整（¥10,000,000.00）", "2019年03月15日",
                     "2019年03月15日至长期", "北京市海淀区市场监督管理局", "2024年06月03日",
                     "扫码核验", "证照标识："):
        assert expected in text, expected


@pytest.mark.parametrize(
    ("row", "printed"),
    [
        (FaceRow("名称", "某某餐饮管理有限公司", "text"), "某某餐饮管理有限公司"),
        (FaceRow("发证日期", "2023-12-01", "date"), "2023年12月01日"),
        (FaceRow("注册资本", "500000.50", "money"), "人民币伍拾万元伍角整（¥500,000.50）"),
        (FaceRow("主体业态", "餐饮服务经营者（中型餐馆）", "enumeration"),
         "餐饮服务经营者（中型餐馆）"),
        (FaceRow("经营项目", "热食类食品制售\n冷食类食品制售", "multiline"), "热食类食品制售"),
    ],
)
def test_each_kind_of_row_is_printed_in_its_form(face_factory: FaceFactory, tmp_path: Path,
                                                 row: FaceRow, printed: str) -> None:
    pdf = render_license(face_factory(rows=[row]))
    text = squeeze(page_text(pdf, tmp_path))
    assert squeeze(row.label) in text or all(char in text for char in row.label)
    assert squeeze(printed) in text


def test_multiline_values_start_each_paragraph_on_a_new_line(face_factory: FaceFactory,
                                                             tmp_path: Path) -> None:
    rows = [("经营项目", "热食类食品制售\n冷食类食品制售", "multiline")]
    pdf = render_license(face_factory(rows=rows))
    lines = [squeeze(line) for line in page_text(pdf, tmp_path).splitlines()]
    assert any(line.endswith("热食类食品制售") for line in lines)
    assert "冷食类食品制售" in lines


def test_long_values_wrap_inside_the_page(face_factory: FaceFactory, tmp_path: Path) -> None:
    address = ("新疆维吾尔自治区乌鲁木齐市高新技术产业开发区（新市区）北京南路358号"
               "大成国际大厦15层1501-1508室（Dacheng International Tower, Suite 1501-1508）")
    scope = "、".join(["预包装食品（含冷藏冷冻食品）销售", "散装食品（不含冷藏冷冻食品）销售"] * 12)
    pdf = render_license(face_factory(rows=[("住所", address, "text"),
                                            ("经营范围", scope, "multiline")]))
    assert page_count(pdf, tmp_path) == 1
    text = page_text(pdf, tmp_path)
    assert squeeze(address) in squeeze(text)
    # pdftotext -layout keeps every printed line; none may run past the frame.
    assert max(len(line) for line in text.splitlines()) < 120
    assert "Dacheng" in text and "International" in text


def test_a_face_too_long_for_one_page_is_refused(face_factory: FaceFactory) -> None:
    rows = [(f"项目{i}", "很长的内容" * 40, "multiline") for i in range(30)]
    with pytest.raises(RenderError, match="does not fit"):
        render_license(face_factory(rows=rows))


def test_a_character_missing_from_the_font_is_refused_not_printed_as_a_box(
    face_factory: FaceFactory,
) -> None:
    rare = "\U0002A6A5"  # CJK Extension B, not in WenQuanYi Zen Hei
    with pytest.raises(RenderError, match="U\\+2A6A5"):
        render_license(face_factory(holder_name=f"王{rare}"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rows": [("金额", "12元", "money")]}, "amount of money"),
        ({"rows": [("日期", "2024.01.01", "date")]}, "ISO date"),
        ({"rows": [("类型", "x", "colour")]}, "kind"),
        ({"rows": [("类型", "x")]}, "label, value, kind"),
        ({"title": " "}, "title"),
        ({"valid_until": dt.date(2000, 1, 1)}, "before valid_from"),
        ({"issue_date": dt.datetime(2024, 1, 1)}, "datetime.date"),
    ],
)
def test_malformed_faces_are_refused_precisely(face_factory: FaceFactory,
                                               changes: dict[str, object], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_license(face_factory(**changes))


def test_validity_prints_the_end_date_or_permanent(face_factory: FaceFactory,
                                                   tmp_path: Path) -> None:
    bounded = render_license(face_factory(valid_until=dt.date(2039, 3, 14)))
    assert "2019年03月15日至2039年03月14日" in squeeze(page_text(bounded, tmp_path))
    permanent = render_license(face_factory())
    assert "2019年03月15日至长期" in squeeze(page_text(permanent, tmp_path))


def test_only_the_embedded_cjk_subset_fonts_are_used(face_factory: FaceFactory, pdffonts) -> None:
    found = pdffonts(render_license(face_factory()))
    assert found, "the page shows text, so it must have fonts"
    for font in found:
        assert font.embedded and font.subset, font
        assert "WenQuanYiZenHei" in font.name, font
        assert font.type == "TrueType", font
    assert not any("Helvetica" in font.name for font in found)


def test_helvetica_is_never_referenced(face_factory: FaceFactory) -> None:
    pdf = render_license(face_factory())
    streams = [zlib.decompress(match.group(1))
               for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL)
               if match.group(1)[:1] == b"x"]
    assert b"Helvetica" not in pdf
    assert not any(b"Helvetica" in stream for stream in streams)


def test_rendering_is_deterministic(face_factory: FaceFactory) -> None:
    assert render_license(face_factory()) == render_license(face_factory())
    assert render_license(face_factory()) != render_license(face_factory(license_number="2"))


def test_pdf_dates_are_the_issue_date(face_factory: FaceFactory) -> None:
    pdf = render_license(face_factory(issue_date=dt.date(2024, 6, 3)))
    assert b"/CreationDate (D:20240603000000+08'00')" in pdf
    assert b"/ModDate (D:20240603000000+08'00')" in pdf


def test_renders_from_many_threads_are_identical(face_factory: FaceFactory) -> None:
    faces = [face_factory(license_number=str(n % 3)) for n in range(12)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = list(pool.map(render_license, faces))
    for face, page in zip(faces, pages, strict=True):
        assert page == render_license(face)


def test_font_is_registered_once_per_process() -> None:
    assert fonts.cjk_font() is fonts.cjk_font()
    assert fonts.register_cjk_font() == fonts.FONT_NAME


def test_missing_font_names_the_debian_package(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    # The environment (not the code under test) is altered: no font file, no fontconfig.
    monkeypatch.setattr(fonts, "DEFAULT_FONT_PATH", tmp_path / "absent.ttc")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FontNotFoundError, match="fonts-wqy-zenhei"):
        fonts.find_cjk_font()


@pytest.mark.parametrize("token_bytes", [250, 296])
def test_qr_code_decodes_to_the_exact_url(face_factory: FaceFactory, rasterise,
                                          qr_decoders, token_bytes: int) -> None:
    # A token as long as the worst case the vault issues (version 15) and as
    # long as the identifier format's longest serial makes it (version 16).
    token = base64.urlsafe_b64encode((bytes(range(256)) * 2)[:token_bytes]).rstrip(b"=").decode()
    url = "https://zwfw.yiwang.example-province.gov/v/" + token
    assert qr_version(url) == (15 if token_bytes == 250 else 16)
    png = rasterise(render_license(face_factory(qr_url=url)), dpi=150)
    for name, decode in qr_decoders.items():
        assert decode(png) == [url], name


def test_a_qr_url_too_long_to_scan_when_printed_is_refused(face_factory: FaceFactory) -> None:
    with pytest.raises(RenderError, match="version"):
        render_license(face_factory(qr_url="https://e.cn/v/" + "a" * 1200))
