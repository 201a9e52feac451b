"""Chinese line breaking and printed value formats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from reportlab.pdfbase.pdfmetrics import stringWidth

from signing.errors import RenderError
from signing.fonts import FONT_NAME, register_cjk_font
from signing.text import (
    NO_LINE_END,
    NO_LINE_START,
    chinese_amount,
    format_date,
    format_money,
    paragraphs,
    wrap,
)


def measure(text: str) -> float:
    register_cjk_font()
    return stringWidth(text, FONT_NAME, 12)


def test_cjk_text_breaks_between_any_two_characters_to_fill_each_line() -> None:
    text = "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发"
    lines = wrap(text, 10 * 12, measure)
    assert "".join(lines) == text
    assert all(measure(line) <= 10 * 12 + 12 for line in lines)  # one hanging mark at most
    assert all(len(line) >= 9 for line in lines[:-1])


def test_latin_words_stay_whole_inside_chinese_text() -> None:
    text = "住所位于Zhongguancun Tower东侧Building 27号"
    lines = wrap(text, 8 * 12, measure)
    joined = " ".join(lines)
    for word in ("Zhongguancun", "Tower", "Building"):
        assert any(word in line for line in lines), (word, lines)
    assert joined.replace(" ", "") == text.replace(" ", "")


def test_a_latin_word_wider_than_the_line_breaks_per_character() -> None:
    word = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    lines = wrap(word, 60, measure)
    assert len(lines) > 1
    assert "".join(lines) == word
    assert all(measure(line) <= 60 for line in lines)


def test_closing_punctuation_never_starts_a_line() -> None:
    text = "甲乙丙丁戊，己庚辛壬癸。子丑寅卯辰（巳午未申酉）戌亥" * 3
    for width in range(3, 12):
        lines = wrap(text, width * 12, measure)
        assert "".join(lines) == text
        assert all(line[0] not in NO_LINE_START for line in lines), lines
        assert all(line[-1] not in NO_LINE_END for line in lines), lines


def test_whitespace_collapses_and_vanishes_at_line_ends() -> None:
    assert wrap("  甲   乙  ", 100, measure) == ["甲 乙"]
    assert wrap("", 100, measure) == []


def test_multiline_values_keep_paragraphs_and_blank_lines() -> None:
    assert paragraphs("第一段\r\n第二段\n\n第四段") == ["第一段", "第二段", "", "第四段"]


def test_dates_print_in_chinese_form() -> None:
    assert format_date("2024-06-03") == "2024年06月03日"
    with pytest.raises(RenderError, match="ISO date"):
        format_date("2024/06/03")


@pytest.mark.parametrize(
    ("amount", "capitals"),
    [
        ("1", "壹元整"),
        ("10", "壹拾元整"),
        ("105", "壹佰零伍元整"),
        ("1000000", "壹佰万元整"),
        ("1010000", "壹佰零壹万元整"),
        ("100000000", "壹亿元整"),
        ("100000001.05", "壹亿零壹元零伍分"),
        ("10010500.30", "壹仟零壹万零伍佰元叁角整"),
        ("123456789012.34", "壹仟贰佰叁拾肆亿伍仟陆佰柒拾捌万玖仟零壹拾贰元叁角肆分"),
        ("0.05", "伍分"),
        ("0", "零元整"),
    ],
)
def test_money_is_written_in_financial_capitals(amount: str, capitals: str) -> None:
    assert chinese_amount(Decimal(amount)) == capitals


def test_money_prints_capitals_and_figures() -> None:
    assert format_money("2,500,000.5") == "人民币贰佰伍拾万元伍角整（¥2,500,000.50）"


@pytest.mark.parametrize("value", ["abc", "-1", "1.001", "1000000000000", "NaN", "Infinity"])
def test_malformed_or_out_of_range_money_is_refused(value: str) -> None:
    with pytest.raises(RenderError):
        format_money(value)
