"""Fail closed: no change to a genuine file or code is VALID, and nothing raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.license_vault.helpers import World
from tests.verify.conftest import FreshVerifier, Issued
from verify import Reason, TrustList, verify_qr_offline


def examples(count: int) -> settings:
    # Derandomized (no example database written): the same cases every run.
    return settings(max_examples=count, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def cached(verify_world: World) -> TrustList:
    return FreshVerifier(verify_world).offline_trust_list()


@examples(40)
@given(position=st.floats(min_value=0, max_value=1, exclude_max=True),
       value=st.integers(min_value=0, max_value=255))
def test_no_single_byte_change_to_a_license_pdf_is_valid(
        verifier: FreshVerifier, genuine: Issued, position: float, value: int) -> None:
    data = bytearray(genuine.pdf)
    index = int(position * len(data))
    if data[index] == value:
        value ^= 0xFF
    data[index] = value

    verdict = verifier.verify_pdf(bytes(data))

    assert verdict.bottom_line is not Reason.VALID, (index, verdict.to_json())
    assert verdict.license is None or not verdict.intact.passed or verdict.in_vault.passed


@examples(300)
@given(position=st.integers(min_value=0), value=st.characters(
    codec="ascii", exclude_characters="\r\n\t\x0b\x0c "))
def test_no_single_character_change_to_a_code_is_valid(
        cached: TrustList, genuine: Issued, position: int, value: str) -> None:
    url = genuine.qr_url
    token_start = url.index("/v/") + 3
    index = token_start + position % (len(url) - token_start)
    if url[index] == value:
        return
    changed = url[:index] + value + url[index + 1:]

    verdict = verify_qr_offline(changed, cached)

    assert verdict.bottom_line is not Reason.VALID, (index, value, verdict.to_json())


@examples(300)
@given(text=st.one_of(st.text(max_size=3000), st.binary(max_size=3000),
                      st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_", max_size=600).map(
                          lambda token: "https://yiwang.test/v/" + token)))
def test_arbitrary_text_is_never_valid_and_never_raises(
        cached: TrustList, text: object) -> None:
    verdict = verify_qr_offline(text, cached)
    assert verdict.bottom_line is not Reason.VALID


@examples(60)
@given(data=st.binary(max_size=4096).map(lambda tail: b"%PDF-1.7\n" + tail))
def test_arbitrary_pdf_like_bytes_are_never_valid_and_never_raise(
        verifier: FreshVerifier, data: bytes) -> None:
    assert verifier.verify_pdf(data).bottom_line is not Reason.VALID
