"""Resident ID numbers (GB 11643) and unified social credit codes (GB 32100)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from idp.errors import (
    IdentifierError,
    IdpError,
    InvalidAuthorityCode,
    InvalidBirthDate,
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    InvalidRegion,
)
from idp.identifiers import ric, uscc

TODAY = datetime.date(2024, 6, 1)


def make_ric(first17: str) -> str:
    """Append the check digit, computed by python-stdnum rather than by the code under test."""
    return first17 + stdnum_ric.calc_check_digit(first17 + "0")


def organisation_check(body: str) -> str:
    """GB 11714 check character, written out independently of idp.identifiers.uscc."""
    values = [int(c, 36) for c in body]
    check = 11 - sum(v * w for v, w in zip(values, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def make_uscc(first16: str) -> str:
    """Complete authority, type, region and organisation body with both check characters."""
    first17 = first16 + organisation_check(first16[8:])
    return first17 + stdnum_uscc.calc_check_digit(first17)


# ---------------------------------------------------------------- ID numbers

VALID_ID_NUMBERS = [
    "11010519491231002X",  # Beijing Chaoyang, the example of GB 11643 itself
    "360426199101010071",  # Jiangxi De'an, python-stdnum's example
    "310115199503150128",  # Shanghai Pudong
    "440305200106203145",  # Guangdong Shenzhen Nanshan
    "510104199208290062",  # Sichuan Chengdu Jinjiang
    "650102198702141533",  # Xinjiang Urumqi Tianshan
    "330106197809112421",  # Zhejiang Hangzhou Xihu
    "320102198211050411",  # Jiangsu Nanjing Xuanwu
    "610113199601010012",  # Shaanxi Xi'an Yanta
    "230103197505202011",  # Heilongjiang Harbin Nangang
    "530102198909181834",  # Yunnan Kunming Wuhua
    "110108200002290127",  # born on a leap day
]

ID_NUMBERS_ENDING_IN_X = [
    "11010519491231002X",
    "31011519950315003X",
    "44030520010620309X",
    "51010419920829002X",
    "33010619780911200X",
    "65010219870214104X",
    "43010419901212103X",
]


@pytest.mark.parametrize("number", VALID_ID_NUMBERS)
def test_valid_id_numbers_from_several_provinces_are_accepted(number: str) -> None:
    assert ric.validate(number, today=TODAY) == number
    assert ric.is_valid(number, today=TODAY)


@pytest.mark.parametrize("number", ID_NUMBERS_ENDING_IN_X)
def test_id_numbers_ending_in_x_are_accepted(number: str) -> None:
    assert ric.validate(number, today=TODAY) == number


def test_lower_case_x_is_upper_cased() -> None:
    assert ric.validate("31011519950315003x", today=TODAY) == "31011519950315003X"


@pytest.mark.parametrize(
    "written",
    [
        "110105 19491231 002X",
        "110105-19491231-002x",
        " 1101 0519 4912 3100 2X ",
        "110105\u201319491231\u2013002X",  # en dashes from a word processor
    ],
)
def test_spaces_and_dashes_are_stripped(written: str) -> None:
    assert ric.compact(written) == "11010519491231002X"
    assert ric.validate(written, today=TODAY) == "11010519491231002X"


def test_full_width_input_from_chinese_input_methods_is_accepted() -> None:
    written = "\uff11\uff11\uff10\uff11\uff10\uff15\u3000\uff11\uff19\uff14\uff19"
    written += "\uff11\uff12\uff13\uff11\uff10\uff10\uff12\uff58"
    assert ric.validate(written, today=TODAY) == "11010519491231002X"


def test_id_number_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidFormat, match="text"):
        ric.validate(11010519491231002, today=TODAY)  # type: ignore[arg-type]
    assert not ric.is_valid(None)  # type: ignore[arg-type]


def test_default_today_accepts_a_past_birth_date() -> None:
    assert ric.validate("11010519491231002X") == "11010519491231002X"


def test_future_birth_date_is_refused() -> None:
    number = "440305202401021239"  # born 2024-01-02
    with pytest.raises(InvalidBirthDate, match="in the future"):
        ric.validate(number, today=datetime.date(2024, 1, 1))


def test_birth_today_is_accepted() -> None:
    number = "440305202401021239"
    assert ric.validate(number, today=datetime.date(2024, 1, 2)) == number


def test_today_is_taken_in_china_time() -> None:
    number = "440305202401021239"  # born 2024-01-02
    utc = datetime.UTC
    # 16:30 UTC on 1 January is already 00:30 on 2 January in Beijing.
    assert ric.is_valid(number, today=datetime.datetime(2024, 1, 1, 16, 30, tzinfo=utc))
    assert not ric.is_valid(number, today=datetime.datetime(2024, 1, 1, 15, 30, tzinfo=utc))


def test_birth_date_before_1900_is_refused() -> None:
    # The GB 11643 standard's own second example was born in 1880.
    with pytest.raises(InvalidBirthDate, match="before 1900"):
        ric.validate("440524188001010014", today=TODAY)


@pytest.mark.parametrize(
    "number",
    [
        "110105194902300020",  # 30 February
        "110105194913310021",  # month 13
        "110105190002290009",  # 1900 was not a leap year
        make_ric("11010519490100002"),  # day 0
    ],
)
def test_impossible_birth_date_is_refused(number: str) -> None:
    with pytest.raises(InvalidBirthDate, match="impossible birth date"):
        ric.validate(number, today=TODAY)


@pytest.mark.parametrize("number", ["1101051949123100", "11010519491231002", "11010519491231002X1"])
def test_wrong_length_is_refused(number: str) -> None:
    with pytest.raises(InvalidLength, match="18 characters"):
        ric.validate(number, today=TODAY)


def test_legacy_15_digit_number_is_refused() -> None:
    with pytest.raises(InvalidLength):
        ric.validate("110105491231002", today=TODAY)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("110105194912A1002X", "Character 13 .* must be a digit"),
        ("1101051949123100X2", "Character 17 .* must be a digit"),
        ("11010519491231002Y", "last character .* digit or X"),
        ("11010519491231002\u0661", "last character"),  # Arabic-Indic digit one
        ("\u0661" + "1010519491231002X", "Character 1 "),
    ],
)
def test_bad_character_is_refused(number: str, message: str) -> None:
    with pytest.raises(InvalidFormat, match=message):
        ric.validate(number, today=TODAY)


@pytest.mark.parametrize(
    "number", ["110105194912310021", "360426199101010072", "310115199503150120"]
)
def test_wrong_check_digit_is_refused(number: str) -> None:
    with pytest.raises(InvalidChecksum, match="wrong check digit"):
        ric.validate(number, today=TODAY)


@pytest.mark.parametrize(
    "number",
    [
        "990000199001011239",  # no such province
        "119999199001011234",  # known province, no such county (python-stdnum raises KeyError)
        make_ric("00000019900101123"),
    ],
)
def test_unknown_region_code_is_refused(number: str) -> None:
    with pytest.raises(InvalidRegion, match="unknown region code"):
        ric.validate(number, today=TODAY)


def test_region_created_after_birth_is_accepted() -> None:
    # Pudong (310115) dates from 1992; a person born in 1980 who was first
    # given a number there has it. python-stdnum refuses this number.
    number = "310115198001011238"
    assert not stdnum_ric.is_valid(number)
    assert ric.validate(number, today=TODAY) == number


def test_region_abolished_before_birth_is_refused() -> None:
    # Chongwen district (110103) was merged away in 2010.
    assert ric.is_valid("110103198001011235", today=TODAY)
    assert ric.is_valid("110103201006011239", today=TODAY)
    with pytest.raises(InvalidRegion, match="abolished"):
        ric.validate("110103201101011237", today=TODAY)


@pytest.mark.parametrize(
    "number",
    [
        "810000198507030012",  # Hong Kong, born before 1997
        "820000197903150021",  # Macao, born before 1999
        "830000198804120026",  # Taiwan, a code python-stdnum does not know
    ],
)
def test_residence_permit_numbers_are_accepted(number: str) -> None:
    assert ric.validate(number, today=TODAY) == number


INVALID_FULL_LENGTH_ID_NUMBERS = [
    "110105194912310021",
    "440524188001010014",
    "440305202401021239",
    "110105194902300020",
    "990000199001011239",
    "110105194912A1002X",
    "11010519491231002Y",
    "110103201101011237",
]


@pytest.mark.parametrize("number", INVALID_FULL_LENGTH_ID_NUMBERS)
def test_error_messages_never_contain_the_number_or_birth_date(number: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        ric.validate(number, today=datetime.date(2024, 1, 1))
    message = str(caught.value)
    assert number not in message
    assert number[6:14] not in message
    assert ric.mask(number) in message


@pytest.mark.parametrize("number", [*INVALID_FULL_LENGTH_ID_NUMBERS, "123"])
def test_errors_are_idp_errors_and_value_errors(number: str) -> None:
    with pytest.raises(IdpError) as caught:
        ric.validate(number, today=datetime.date(2024, 1, 1))
    assert isinstance(caught.value, ValueError)
    assert not ric.is_valid(number, today=datetime.date(2024, 1, 1))


def test_mask_hides_birth_date_and_sequence() -> None:
    # A license face may show the birth date: the mask must not complete it.
    assert ric.mask("11010519491231002X") == "110**************X"
    assert ric.mask("110105 19491231 002x") == "110**************X"


def test_mask_hides_everything_when_length_is_wrong() -> None:
    assert ric.mask("1101051949123100") == "*" * 16
    assert ric.mask("") == ""


@pytest.mark.parametrize("number", VALID_ID_NUMBERS + ID_NUMBERS_ENDING_IN_X)
def test_id_number_round_trips(number: str) -> None:
    assert ric.validate(ric.format(number), today=TODAY) == number
    assert ric.compact(ric.compact(number)) == ric.compact(number)
    assert ric.calc_check_digit(number) == number[-1]


# Regions whose codes have been in use since before 1900-born people got numbers.
STABLE_REGIONS = ["110101", "110105", "320102", "330106", "420106", "440106", "650102"]


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(STABLE_REGIONS))
    birth = draw(st.dates(min_value=datetime.date(1900, 1, 1), max_value=TODAY))
    sequence = draw(st.integers(min_value=0, max_value=999))
    return make_ric(f"{region}{birth:%Y%m%d}{sequence:03d}")


@settings(deadline=None)
@given(id_numbers())
def test_generated_id_numbers_validate(number: str) -> None:
    assert ric.validate(number, today=TODAY) == number


@settings(deadline=None)
@given(id_numbers(), st.data())
def test_any_single_character_change_in_an_id_number_is_detected(
    number: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    replacement = data.draw(st.sampled_from("0123456789X").filter(lambda c: c != number[position]))
    changed = number[:position] + replacement + number[position + 1 :]
    assert not ric.is_valid(changed, today=TODAY)


# ---------------------------------------------------------------- USCCs

VALID_USCCS = [
    "91110000600037341L",  # authority 9 (market regulation), type 1: enterprise
    "12440600MB2C07549J",  # 1 (establishment), type 2: public institution, a real code
    make_uscc("92440300MA5F8K3Q"),  # 9, type 2: individual business
    make_uscc("93330106MA2H7D4C"),  # 9, type 3: farmers' cooperative
    make_uscc("1110000000001312"),  # 1, type 1: state organ
    make_uscc("2110000000013627"),  # 2, type 1: foreign news agency
    make_uscc("31110000E0001AB2"),  # 3, type 1: law firm
    make_uscc("3244030000000047"),  # 3, type 2: notary office
    make_uscc("4111000000004521"),  # 4, type 1: foreign cultural centre
    make_uscc("51100000500001AC"),  # 5, type 1: social organisation
    make_uscc("52440300MJL1820A"),  # 5, type 2: private non-enterprise unit
    make_uscc("53100000500021AB"),  # 5, type 3: foundation
    make_uscc("6211000000012345"),  # 6, type 2: HK/Macao/Taiwan tourism office
    make_uscc("7133010600345678"),  # 7, type 1: religious venue
    make_uscc("81310115MC123456"),  # 8, type 1: trade union
    make_uscc("A1100000MA1XT5KB"),  # A, type 1: military public institution
    make_uscc("N2330106MF0A1B2C"),  # N, type 2: village collective
    make_uscc("Y1110000MC00A3B4"),  # Y, type 1: other
]


def test_uscc_test_data_is_sound() -> None:
    # The examples were built with helpers written independently of the module.
    assert make_uscc("9111000060003734") == "91110000600037341L"
    assert make_uscc("12440600MB2C0754") == "12440600MB2C07549J"


@pytest.mark.parametrize("code", VALID_USCCS)
def test_valid_usccs_of_several_authorities_and_types_are_accepted(code: str) -> None:
    assert uscc.validate(code) == code
    assert uscc.is_valid(code)


@pytest.mark.parametrize("code", ["A1100000MA1XT5KB8T", "N2330106MF0A1B2C0M", "Y1110000MC00A3B4XF"])
def test_lettered_authorities_refused_by_python_stdnum_are_accepted(code: str) -> None:
    assert not stdnum_uscc.is_valid(code)
    assert uscc.validate(code) == code


@pytest.mark.parametrize(
    "written", ["9111 0000 6000 3734 1L", "91110000-600037341-l", " 91110000600037341l "]
)
def test_uscc_spaces_dashes_and_case_are_compacted(written: str) -> None:
    assert uscc.validate(written) == "91110000600037341L"


def test_uscc_in_full_width_characters_is_accepted() -> None:
    written = "".join(chr(ord(c) + 0xFEE0) for c in "91110000600037341L")
    assert uscc.validate(written) == "91110000600037341L"


def test_uscc_that_is_not_text_is_refused() -> None:
    assert not uscc.is_valid(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["91110000600037341", "91110000600037341LL", ""])
def test_uscc_of_wrong_length_is_refused(code: str) -> None:
    with pytest.raises(InvalidLength, match="18 characters"):
        uscc.validate(code)


@pytest.mark.parametrize(
    ("code", "position"),
    [
        ("9111000060003734IL", 17),
        ("91110000O00037341L", 9),
        ("9111000060003734S1", 17),
        ("91110000600037341V", 18),
        ("Z1110000600037341L", 1),
        ("91110000600037*41L", 15),
    ],
)
def test_uscc_with_a_character_outside_its_alphabet_is_refused(code: str, position: int) -> None:
    with pytest.raises(InvalidFormat, match=f"character {position} is not allowed"):
        uscc.validate(code)


@pytest.mark.parametrize("code", ["B1110000600037341J", "01110000600037341X"])
def test_unassigned_registration_authority_is_refused(code: str) -> None:
    assert stdnum_uscc.calc_check_digit(code[:17]) == code[-1]
    with pytest.raises(InvalidAuthorityCode, match=r"registration authority code .* not assigned"):
        uscc.validate(code)


@pytest.mark.parametrize(
    "code",
    [
        "94110000600037341B",  # market regulation has types 1-3 only
        "9A110000600037341Q",
        "Y2110000600037341U",  # "other" is not subdivided
        "16110000600037341D",
        "A2110000600037341G",
    ],
)
def test_entity_type_not_defined_for_the_authority_is_refused(code: str) -> None:
    assert stdnum_uscc.calc_check_digit(code[:17]) == code[-1]
    with pytest.raises(InvalidAuthorityCode, match=r"entity type .* not defined"):
        uscc.validate(code)


def test_uscc_region_code_with_a_letter_is_refused() -> None:
    code = "91A100006000373411"
    assert stdnum_uscc.calc_check_digit(code[:17]) == code[-1]
    with pytest.raises(InvalidRegion, match="six digits"):
        uscc.validate(code)


@pytest.mark.parametrize("code", ["91110000600037341M", "12440600MB2C07549K", "A1100000MA1XT5KB8U"])
def test_uscc_with_wrong_check_character_is_refused(code: str) -> None:
    with pytest.raises(InvalidChecksum, match="wrong check character"):
        uscc.validate(code)


def test_uscc_with_wrong_organisation_check_character_is_refused() -> None:
    # The USCC's own check is right; only the embedded GB 11714 code is not.
    code = "9111000060003734XB"
    assert stdnum_uscc.is_valid(code)
    with pytest.raises(InvalidChecksum, match="organisation code 60003734X"):
        uscc.validate(code)


def test_uscc_mask_leaves_the_public_code_readable() -> None:
    assert uscc.mask("9111 0000 6000 3734 1l") == "91110000600037341L"


def test_uscc_errors_are_idp_errors_and_value_errors() -> None:
    with pytest.raises(IdpError) as caught:
        uscc.validate("91110000600037341M")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("code", VALID_USCCS)
def test_uscc_round_trips(code: str) -> None:
    assert uscc.validate(uscc.format(code)) == code
    assert uscc.calc_check_digit(code) == code[-1]
    assert uscc.calc_organisation_check_digit(code[8:16]) == code[16]


@st.composite
def usccs(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from(sorted(uscc.ENTITY_TYPES)))
    entity_type = draw(st.sampled_from(sorted(uscc.ENTITY_TYPES[authority])))
    region = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    body = draw(st.text(alphabet=uscc.ALPHABET, min_size=8, max_size=8))
    return make_uscc(authority + entity_type + region + body)


@given(usccs())
def test_generated_usccs_validate(code: str) -> None:
    assert uscc.validate(code) == code


@given(usccs(), st.data())
def test_any_single_character_change_in_a_uscc_is_detected(code: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
    replacement = data.draw(
        st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ").filter(
            lambda c: c != code[position]
        )
    )
    changed = code[:position] + replacement + code[position + 1 :]
    assert not uscc.is_valid(changed)


def test_check_characters_are_only_computed_over_well_formed_input() -> None:
    with pytest.raises(InvalidFormat):
        ric.calc_check_digit("1101051949123100")
    with pytest.raises(InvalidFormat):
        ric.calc_check_digit("110105194912A1002")
    with pytest.raises(InvalidFormat):
        uscc.calc_check_digit("9111000060003734I")
    with pytest.raises(InvalidFormat):
        uscc.calc_organisation_check_digit("6000373")
