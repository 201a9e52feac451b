"""Benchmark: verifications per second, against the bare signature check they wrap.

Builds a throw-away instance (SQLite in a temporary folder unless
``--database-url`` names an empty PostgreSQL database), registers the demo
departments and license types, issues one 食品经营许可证 and fetches the signed
trust list, then measures, interleaved round by round:

QR codes, offline (what a verifier app does with its cached trust list):

* **raw ECDSA** — ``public_key.verify`` of the code's signature over its
  COSE ``Sig_structure`` with the department's key (bytes prepared once);
* **COSE verify1** — ``keys.cose.verify1`` of the decoded message with the
  same key: the bare signature check of the token format;
* **verify_payload** — ``signing.payload.verify_payload`` of the token with the
  same key: base64url, COSE_Sign1 and the payload decoded and checked;
* **verify_qr_offline** — ``verify.verify_qr_offline``: parse the URL,
  decode the token, look the kid up, verify, decode and check the payload,
  check the issuer's key and the dates.

PDF files:

* **bare pyHanko** — ``PdfFileReader`` + ``validate_pdf_signature`` of the
  same file against the same root (``allow_fetching=False``);
* **verify_pdf** — ``Verifier.verify_pdf`` online: the same plus point-in-time
  chain validation at the timestamp, revocation from the CA's records, the
  vault lookup by signed-revision SHA-256, the SM2 seal, status and face data.

Run: ``.venv/bin/python bench/verify_license.py [--rounds 40] [--batch 200]``.
Results are reported in ``docs/benchmarks.md`` ("Verification").
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import FIELDS, FOOD, SAMR, holder, machine, vault_world
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from keys import cose
from keys.pades import asn1_certificate
from license_vault import departments, issuance, reading
from signing.payload import parse_qr_url, verify_payload
from verify import Reason, Verifier, trust_list, verify_qr_offline
from yiwang.database import utcnow
from yiwang.runtime import Runtime


def build(folder: Path, database_url: str | None) -> tuple[Runtime, bytes, str]:
    runtime, vault, _ = vault_world(folder, database_url=database_url,
                                    issuer="https://yiwang.bench")
    with runtime.session() as session:
        department = departments.get_department(session, SAMR)
        license = issuance.issue(session, vault, department=department, request=(
            issuance.IssueRequest(FOOD, holder(1), dict(FIELDS))), actor="bench", now=utcnow())
    with runtime.session() as session:
        pdf = reading.read_pdf(session, vault.blobs, license)
    return runtime, pdf, license.qr_url


def interleaved(cases: dict[str, Callable[[], object]], rounds: int, batch: int
                ) -> dict[str, list[float]]:
    """Per-call times (µs), one batch of each case per round, cases alternating."""
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, function in cases.items():
            start = time.perf_counter()
            for _ in range(batch):
                function()
            results[name].append((time.perf_counter() - start) / batch * 1e6)
    return results


def summarise(results: dict[str, list[float]], base: str) -> list[dict[str, object]]:
    base_median = statistics.median(results[base])
    rows = []
    for name, times in results.items():
        median = statistics.median(times)
        ratios = [t / b for t, b in zip(times, results[base], strict=True)]
        rows.append({"case": name, "median_us": round(median, 1),
                     "per_second": round(1e6 / median),
                     "ratio": round(median / base_median, 2),
                     "ratio_of_rounds": round(statistics.median(ratios), 2)})
    return rows


def qr_cases(runtime: Runtime, url: str) -> dict[str, Callable[[], object]]:
    with runtime.session() as session:
        token = trust_list.publish(session, runtime.keystore, issuer=runtime.settings.issuer,
                                   now=utcnow())
        root = runtime.keystore.root_certificate(session)
    cached = trust_list.load(token, root=root, at=utcnow())
    _, code = parse_qr_url(url)
    message = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    protected, _, payload, signature = cose.loads_deterministic(message, tag=18)
    kid = cose.loads_deterministic(protected)[cose.HEADER_KID].decode()
    public_key = cached.qr_keys[kid].public_key
    keys = {kid: public_key}
    sig_structure = cose.dumps_deterministic(["Signature1", protected, b"", payload])
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    assert verify_qr_offline(url, cached).bottom_line is Reason.VALID
    algorithm = ec.ECDSA(hashes.SHA256())
    return {
        "raw ECDSA": lambda: public_key.verify(der, sig_structure, algorithm),
        "COSE verify1": lambda: cose.verify1(message, keys),
        "verify_payload": lambda: verify_payload(code, keys),
        "verify_qr_offline": lambda: verify_qr_offline(url, cached),
    }


def pdf_cases(runtime: Runtime, pdf: bytes) -> tuple[dict[str, Callable[[], object]], object]:
    session = runtime.session_factory()
    root = [asn1_certificate(runtime.keystore.root_certificate(session))]

    def bare() -> None:
        signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
        status = validate_pdf_signature(
            signature, ValidationContext(trust_roots=root, allow_fetching=False))
        assert status.bottom_line

    def ours() -> None:
        # a Verifier per call, as per web request; the session stays open
        verdict = Verifier(session, runtime.keystore,
                           issuer=runtime.settings.issuer).verify_pdf(pdf)
        assert verdict.bottom_line is Reason.VALID, verdict.detail

    return {"bare pyHanko": bare, "verify_pdf": ours}, session


def table(title: str, rows: list[dict[str, object]]) -> str:
    lines = [f"{title}", "| case | median | per second | ratio |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['case']} | {row['median_us']} µs | {row['per_second']} /s "
                     f"| {row['ratio']}x (rounds {row['ratio_of_rounds']}x) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=200, help="QR calls per round and case")
    parser.add_argument("--pdf-batch", type=int, default=5, help="PDF calls per round and case")
    parser.add_argument("--database-url", help="an EMPTY PostgreSQL database (default SQLite)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runtime, pdf, url = build(Path(folder) / "instance", args.database_url)
        try:
            qr_rows = summarise(interleaved(qr_cases(runtime, url), args.rounds, args.batch),
                                "raw ECDSA")
            cases, session = pdf_cases(runtime, pdf)
            try:
                pdf_rows = summarise(interleaved(cases, args.rounds, args.pdf_batch),
                                     "bare pyHanko")
            finally:
                session.close()  # type: ignore[attr-defined]
        finally:
            runtime.dispose()
    environment = {**machine(),
                   "load": os.getloadavg(), "database": "postgresql" if args.database_url
                   else "sqlite", "rounds": args.rounds}
    if args.json:
        print(json.dumps({"environment": environment, "qr": qr_rows, "pdf": pdf_rows},
                         indent=2, ensure_ascii=False))
        return
    print(environment)
    print(table("QR offline (ratio to raw ECDSA; target: at most 1.3x)", qr_rows))
    print()
    print(table("PDF (ratio to bare pyHanko; target: at most 1.5x)", pdf_rows))


if __name__ == "__main__":
    main()
