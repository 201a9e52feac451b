"""Verdicts: frozen values with one facet per check and one bottom line.

Each facet is *passed*, *failed* (with the :class:`Reason` it implies) or
*not checked*. The bottom line is the reason of the first failed facet, in
the order the checks build on each other (a broken signature says more than
an unknown license), else :attr:`Reason.VALID` if every facet the verdict
requires passed, else :attr:`Reason.UNAVAILABLE`: a verdict never says
"valid" because something was not checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from signing.cbor_payload import QrPayload

__all__ = [
    "MESSAGES",
    "NOT_CHECKED",
    "Facet",
    "LicenseView",
    "Message",
    "Outcome",
    "PdfVerdict",
    "QrVerdict",
    "Reason",
    "Verdict",
]


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_CHECKED = "not_checked"


class Reason(enum.StrEnum):
    """The bottom line: VALID or the one primary reason a license is not."""

    VALID = "VALID"
    MALFORMED = "MALFORMED"
    NOT_SIGNED = "NOT_SIGNED"
    SIGNATURE_BROKEN = "SIGNATURE_BROKEN"
    MODIFIED_AFTER_SIGNING = "MODIFIED_AFTER_SIGNING"
    UNTRUSTED_SIGNER = "UNTRUSTED_SIGNER"
    SIGNER_CERT_REVOKED = "SIGNER_CERT_REVOKED"
    SIGNER_CERT_EXPIRED_AT_SIGNING = "SIGNER_CERT_EXPIRED_AT_SIGNING"
    QR_UNKNOWN_KEY = "QR_UNKNOWN_KEY"
    QR_SIGNATURE_INVALID = "QR_SIGNATURE_INVALID"
    UNKNOWN_LICENSE = "UNKNOWN_LICENSE"
    DOES_NOT_MATCH_VAULT = "DOES_NOT_MATCH_VAULT"
    NOT_YET_VALID = "NOT_YET_VALID"
    SUSPENDED = "SUSPENDED"  # status 02
    WITHDRAWN = "WITHDRAWN"  # 03
    CANCELLED = "CANCELLED"  # 04
    EXPIRED = "EXPIRED"  # 05, or past the validity period
    TRANSFERRED = "TRANSFERRED"  # 06
    REVOKED = "REVOKED"  # 07
    SUPERSEDED = "SUPERSEDED"  # 99, renewed: a newer version replaces it
    OTHER_STATUS = "OTHER_STATUS"  # 99 for another reason
    UNAVAILABLE = "UNAVAILABLE"  # a required check could not be made: no verdict


@dataclasses.dataclass(frozen=True)
class Message:
    headline: str  # the big word on the page
    zh: str  # the reason in plain Chinese
    en: str


MESSAGES: Mapping[Reason, Message] = {
    Reason.VALID: Message("有效", "证照真实有效。", "The license is genuine and in force."),
    Reason.MALFORMED: Message(
        "无效", "无法识别：这不是一份完整的电子证照文件或证照二维码。",
        "The input is not a readable license file or verification code."),
    Reason.NOT_SIGNED: Message(
        "无效", "文件没有发证机关的电子签名。", "The file carries no electronic signature."),
    Reason.SIGNATURE_BROKEN: Message(
        "无效", "电子签名与文件内容不符，文件已被篡改或损坏。",
        "The signature does not match the signed bytes: the file was altered or damaged."),
    Reason.MODIFIED_AFTER_SIGNING: Message(
        "无效", "文件在签发之后被修改过，显示的内容不可信。",
        "The file was changed after it was signed; what it shows cannot be trusted."),
    Reason.UNTRUSTED_SIGNER: Message(
        "无效", "签名不是由受信任的发证机关作出的。",
        "The signer is not a trusted issuing department, or the signing time is not proven."),
    Reason.SIGNER_CERT_REVOKED: Message(
        "无效", "签名所用的证书在签署时已被吊销。",
        "The signer's certificate had been revoked when the file was signed."),
    Reason.SIGNER_CERT_EXPIRED_AT_SIGNING: Message(
        "无效", "签名所用的证书在签署时不在有效期内。",
        "The signer's certificate was not valid (expired) when the file was signed."),
    Reason.QR_UNKNOWN_KEY: Message(
        "无效", "二维码的签名密钥不在信任列表中，无法确认来源。",
        "The code is signed with a key that is not in the trust list."),
    Reason.QR_SIGNATURE_INVALID: Message(
        "无效", "二维码签名无效，内容可能被篡改。",
        "The code's signature does not verify: it was altered or forged."),
    Reason.UNKNOWN_LICENSE: Message(
        "无效", "证照库中没有这份证照的记录。", "The vault has no record of this license."),
    Reason.DOES_NOT_MATCH_VAULT: Message(
        "无效", "与证照库中的记录不一致。", "It does not match the vault's record."),
    Reason.NOT_YET_VALID: Message(
        "未生效", "证照尚未生效。", "The license is not in force yet."),
    Reason.SUSPENDED: Message("已暂停", "证照已被暂停使用。", "The license is suspended."),
    Reason.WITHDRAWN: Message("已撤销", "证照已被撤销。", "The license was withdrawn."),
    Reason.CANCELLED: Message("已注销", "证照已被注销。", "The license was cancelled."),
    Reason.EXPIRED: Message("已过期", "证照已超过有效期限。", "The license has expired."),
    Reason.TRANSFERRED: Message("已转移", "证照已转移。", "The license was transferred."),
    Reason.REVOKED: Message("已吊销", "证照已被吊销。", "The license was revoked."),
    Reason.SUPERSEDED: Message(
        "已换发", "证照已换发新版本，此版本不再有效。",
        "The license was renewed; this version is superseded."),
    Reason.OTHER_STATUS: Message(
        "无效", "证照状态已变更，不再有效。", "The license's status no longer makes it valid."),
    Reason.UNAVAILABLE: Message(
        "无法核验", "暂时无法完成核验，请稍后再试或联网核验。",
        "The verification could not be completed; no verdict."),
}


@dataclasses.dataclass(frozen=True)
class Facet:
    """One check's result; ``reason`` is set exactly when it failed."""

    outcome: Outcome = Outcome.NOT_CHECKED
    reason: Reason | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if (self.outcome is Outcome.FAILED) != (self.reason is not None):
            raise ValueError("a facet has a reason exactly when it failed")
        if self.reason in (Reason.VALID, Reason.UNAVAILABLE):
            raise ValueError(f"{self.reason} is not the reason of a failed check")

    @classmethod
    def ok(cls, detail: str = "") -> Facet:
        return cls(Outcome.PASSED, None, detail)

    @classmethod
    def fail(cls, reason: Reason, detail: str) -> Facet:
        return cls(Outcome.FAILED, reason, detail)

    @classmethod
    def skip(cls, detail: str = "") -> Facet:
        return cls(Outcome.NOT_CHECKED, None, detail)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    def to_json(self) -> dict[str, Any]:
        return {"outcome": str(self.outcome),
                "reason": None if self.reason is None else str(self.reason),
                "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class LicenseView:
    """What a verifier page may show of a license; the holder's ID only masked.

    ``source`` is ``"vault"`` (the record, online) or ``"payload"`` (what
    the signed QR payload carries, offline). ``fields`` are (label, value)
    in the license type's order.
    """

    source: str
    identifier: str
    type_name: str | None
    license_number: str | None
    issuer_uscc: str
    issuer_name: str | None
    holder_name: str
    holder_id_masked: str
    fields: tuple[tuple[str, str], ...]
    valid_from: dt.date
    valid_until: dt.date | None
    issued_at: dt.datetime
    status_code: str | None = None
    status_label: str | None = None
    superseded_by: str | None = None

    @classmethod
    def of_payload(cls, payload: QrPayload, issuer_name: str | None) -> LicenseView:
        """What an offline page may show: only what the signed payload carries."""
        return cls(
            source="payload", identifier=payload.identifier, type_name=None,
            license_number=None, issuer_uscc=payload.issuer_uscc, issuer_name=issuer_name,
            holder_name=payload.holder_name_masked, holder_id_masked=payload.holder_id_masked,
            fields=(), valid_from=payload.valid_from, valid_until=payload.valid_until,
            issued_at=payload.issued_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "identifier": self.identifier, "type": self.type_name,
            "license_number": self.license_number,
            "issuer": {"uscc": self.issuer_uscc, "name": self.issuer_name},
            "holder": {"name": self.holder_name, "id_masked": self.holder_id_masked},
            "fields": [{"label": label, "value": value} for label, value in self.fields],
            "valid_from": self.valid_from.isoformat(),
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "issued_at": self.issued_at.isoformat(),
            "status": None if self.status_code is None else {
                "code": self.status_code, "label": self.status_label,
                "superseded_by": self.superseded_by},
        }


# The facet of a check that was not made (a frozen value: one serves every verdict).
NOT_CHECKED = Facet()


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Common part of both verdicts; see :class:`PdfVerdict` and :class:`QrVerdict`."""

    FACETS: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[str] = ""

    at: dt.datetime
    online: bool
    # The vault's record, set only when the license was genuinely identified and
    # matches it (see the services); read it as :attr:`license`.
    vault_view: LicenseView | None = None
    identifier: str | None = None

    @classmethod
    def of_every_field(cls, **fields: Any) -> Self:
        """``cls(**fields)`` for a caller that gives every field, at a third of the cost.

        The same frozen value, built without the generated ``__init__``, which
        sets each field through ``object.__setattr__``: for an offline QR
        verdict that is 1.5 µs of a scan's 80, against a target of 1.3 times
        the bare signature check (docs/benchmarks.md). Verdicts have no
        ``__post_init__`` to skip.
        """
        verdict = object.__new__(cls)
        verdict.__dict__.update(fields)
        return verdict

    @property
    def license(self) -> LicenseView | None:
        """What a page may show of the license; None unless it was genuinely identified."""
        return self.vault_view

    @property
    def required(self) -> tuple[str, ...]:
        return self.FACETS

    @property
    def bottom_line(self) -> Reason:
        deciding = self._deciding()
        if deciding is None:
            return Reason.VALID
        facet = deciding[1]
        return Reason.UNAVAILABLE if facet.reason is None else facet.reason

    @property
    def valid(self) -> bool:
        return self.bottom_line is Reason.VALID

    @property
    def message(self) -> Message:
        return MESSAGES[self.bottom_line]

    @property
    def detail(self) -> str:
        """The English detail of the facet that decided the bottom line."""
        deciding = self._deciding()
        if deciding is None:
            return ""
        name, facet = deciding
        if facet.failed:
            return facet.detail
        return facet.detail or f"{name} was not checked"

    def _deciding(self) -> tuple[str, Facet] | None:
        """The facet the bottom line rests on: the first failed one, in check order, else
        the first required one not passed; None when every required facet passed."""
        for name in self.FACETS:
            facet: Facet = getattr(self, name)
            if facet.failed:
                return name, facet
        for name in self.required:
            facet = getattr(self, name)
            if not facet.passed:
                return name, facet
        return None

    def facets(self) -> list[tuple[str, Facet]]:
        return [(name, getattr(self, name)) for name in self.FACETS]

    def to_json(self) -> dict[str, Any]:
        reason = self.bottom_line
        message = MESSAGES[reason]
        return {
            "valid": reason is Reason.VALID,
            "bottom_line": str(reason),
            "kind": self.kind,
            "online": self.online,
            "at": self.at.isoformat(),
            "message": {"headline": message.headline, "zh": message.zh, "en": message.en},
            "detail": self.detail,
            "identifier": self.identifier,
            "facets": {name: facet.to_json() for name, facet in self.facets()},
            "license": None if self.license is None else self.license.to_json(),
            **self._extra_json(),
        }

    def _extra_json(self) -> dict[str, Any]:
        return {}


@dataclasses.dataclass(frozen=True)
class PdfVerdict(Verdict):
    """The verdict on a license PDF. Facets in check order:

    ``well_formed`` (MALFORMED), ``signed`` (NOT_SIGNED), ``intact``
    (SIGNATURE_BROKEN), ``covers_document`` (MODIFIED_AFTER_SIGNING),
    ``trusted`` (UNTRUSTED_SIGNER), ``certificate_good_at_signing``
    (SIGNER_CERT_REVOKED, SIGNER_CERT_EXPIRED_AT_SIGNING), ``in_vault``
    (UNKNOWN_LICENSE), ``matches_vault`` and ``seal_ok``
    (DOES_NOT_MATCH_VAULT), ``status`` (the status codes), ``in_force``
    (EXPIRED, NOT_YET_VALID).
    """

    FACETS: ClassVar[tuple[str, ...]] = (
        "well_formed", "signed", "intact", "covers_document", "trusted",
        "certificate_good_at_signing", "in_vault", "matches_vault", "seal_ok", "status",
        "in_force")
    kind: ClassVar[str] = "pdf"

    well_formed: Facet = NOT_CHECKED
    signed: Facet = NOT_CHECKED
    intact: Facet = NOT_CHECKED
    covers_document: Facet = NOT_CHECKED
    trusted: Facet = NOT_CHECKED
    certificate_good_at_signing: Facet = NOT_CHECKED
    in_vault: Facet = NOT_CHECKED
    matches_vault: Facet = NOT_CHECKED
    seal_ok: Facet = NOT_CHECKED
    status: Facet = NOT_CHECKED
    in_force: Facet = NOT_CHECKED
    signing_time: dt.datetime | None = None  # proven by the signature timestamp
    signed_revision_sha256: str | None = None
    signer: str | None = None  # the signer certificate's subject

    def _extra_json(self) -> dict[str, Any]:
        return {"signing_time": None if self.signing_time is None
                else self.signing_time.isoformat(),
                "signed_revision_sha256": self.signed_revision_sha256, "signer": self.signer}


@dataclasses.dataclass(frozen=True)
class QrVerdict(Verdict):
    """The verdict on a scanned QR code. Facets in check order:

    ``well_formed`` (MALFORMED), ``known_key`` (QR_UNKNOWN_KEY), ``signature``
    (QR_SIGNATURE_INVALID), ``in_vault`` (UNKNOWN_LICENSE), ``matches_vault``
    (DOES_NOT_MATCH_VAULT), ``status`` (the status codes), ``in_force``
    (EXPIRED, NOT_YET_VALID). Offline, the vault facets are not checked and
    not required: the verdict then rests on the signature and the dates the
    payload carries.
    """

    FACETS: ClassVar[tuple[str, ...]] = (
        "well_formed", "known_key", "signature", "in_vault", "matches_vault", "status",
        "in_force")
    OFFLINE_REQUIRED: ClassVar[tuple[str, ...]] = (
        "well_formed", "known_key", "signature", "in_force")
    kind: ClassVar[str] = "qr"

    well_formed: Facet = NOT_CHECKED
    known_key: Facet = NOT_CHECKED
    signature: Facet = NOT_CHECKED
    in_vault: Facet = NOT_CHECKED
    matches_vault: Facet = NOT_CHECKED
    status: Facet = NOT_CHECKED
    in_force: Facet = NOT_CHECKED
    kid: str | None = None
    # Set when the code is genuine and its key is the issuer's: what it asserts,
    # and the issuing department's name as the keys' source knows it.
    payload: QrPayload | None = None
    issuer_name: str | None = None

    @property
    def license(self) -> LicenseView | None:
        """Online, the vault's record; offline, what the signed payload carries.

        The offline view is built when asked, not with the verdict: a verifier
        app checking codes one after another seldom shows every one.
        """
        if self.online or self.payload is None:
            return self.vault_view
        return LicenseView.of_payload(self.payload, self.issuer_name)

    @property
    def required(self) -> tuple[str, ...]:
        return self.FACETS if self.online else self.OFFLINE_REQUIRED

    def _extra_json(self) -> dict[str, Any]:
        return {"kid": self.kid}
