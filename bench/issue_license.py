"""Benchmark: licenses issued per second end to end, against bare pyHanko signing.

Builds a throw-away instance (SQLite in a temporary folder unless
``--database-url`` names an empty PostgreSQL database), registers the demo
departments and license types, then measures, one license at a time and
interleaved run by run:

* **pyHanko alone** (the baseline every ratio is against) —
  ``PdfSigner.sign_pdf`` as pyHanko's documentation uses it, with the
  settings ``signing.sign_pdf`` asks for (PAdES B-T, certified, no changes
  allowed, ``bytes_reserved`` set), on one pre-rendered license PDF, with the
  same department signer and in-process time stamper, untouched;
* **signing.sign_pdf** — the signing step issuance uses, on the same PDF
  (shown for the breakdown; it is not the baseline);
* **issue()** — ``license_vault.issuance.issue``: validate, number, QR payload,
  render, sign, SM2 seal, encrypted blob write (fsync) and commit;
* **API** — ``POST /api/v1/licenses`` through the WSGI app in process, with a
  client-credentials token (adds token checking and the JSON answer).

Run: ``.venv/bin/python bench/issue_license.py [-n 200] [--blob-backend database]``.
Results are reported in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import FIELDS, FOOD, SAMR, holder, machine, vault_world
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from license_vault import departments, identifiers, issuance
from signing import DEFAULT_BYTES_RESERVED, render_license, sign_pdf
from yiwang.app import create_app
from yiwang.database import utcnow


def timed(function: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return times


TARGET = 1.5  # end to end at most 1.5x the cost of pyHanko signing alone


def report(name: str, times: list[float], base: float | None = None) -> float:
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    ratio = f"  {median / base:.2f}x pyHanko alone" if base else "  (baseline)"
    print(f"{name:<24} median {median:6.1f} ms  p90 {p90:6.1f} ms  "
          f"{1000 / median:6.1f} /s{ratio}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default SQLite)")
    parser.add_argument("--blob-backend", choices=("filesystem", "database"),
                        default="filesystem")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="yiwang-bench-"))
    runtime, vault, registered = vault_world(
        folder, database_url=args.database_url, issuer="https://zwfw.yiwang.example.gov.cn",
        blob_backend=args.blob_backend)
    settings = runtime.settings
    counter = iter(range(1, 10**9))

    def issue() -> None:
        with runtime.session() as session:
            department = departments.get_department(session, SAMR)
            issuance.issue(session, vault, department=department, actor="bench", now=utcnow(),
                           request=issuance.IssueRequest(FOOD, holder(next(counter)), FIELDS))

    # One real license, re-rendered, is what the two signing cases sign.
    with runtime.session() as session:
        department = departments.get_department(session, SAMR)
        draft = issuance.prepare(session, vault, department=department, now=utcnow(),
                                 request=issuance.IssueRequest(FOOD, holder(0), FIELDS))
        signer = runtime.keystore.pdf_signer(session, SAMR)
        stamper = runtime.keystore.timestamper(session)
    produced = issuance.produce(draft, issuer=settings.issuer,
                                identifier=identifiers.generate(FOOD, SAMR),
                                number="JY3501002024002000001", now=utcnow())
    pdf = render_license(issuance.license_face(draft, produced.identifier,
                                               produced.license_number, produced.qr_url))

    def ours() -> None:
        sign_pdf(pdf, signer=signer, timestamper=stamper, reason=issuance.SIGNING_REASON,
                 location="福州市市场监督管理局")

    meta = signers.PdfSignatureMetadata(
        field_name="YiwangSeal", reason=issuance.SIGNING_REASON, location="福州市市场监督管理局",
        md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES, certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES, embed_validation_info=False)
    # The baseline is pyHanko's own handling of the signer: nothing of ours set on it.
    assert signer.signed_attr_prov_spec is None and signer.unsigned_attr_prov_spec is None

    def raw() -> None:
        signers.PdfSigner(meta, signer=signer, timestamper=stamper).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)), bytes_reserved=DEFAULT_BYTES_RESERVED)

    app = create_app(settings)
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https",
                                "HTTP_HOST": "zwfw.yiwang.example.gov.cn"})
    basic = base64.b64encode(f"{registered.department.client_id}:"
                             f"{registered.client_secret}".encode()).decode()
    answer = client.post("/token", data={"grant_type": "client_credentials",
                                         "scope": "licenses:issue"},
                         headers={"Authorization": "Basic " + basic}).json
    assert answer is not None
    token = answer["access_token"]

    def api() -> None:
        response = client.post("/api/v1/licenses", headers={"Authorization": "Bearer " + token},
                               json={"type": FOOD, "holder": holder(next(counter)),
                                     "fields": FIELDS})
        assert response.status_code == 201, response.json

    cases = {"raw": raw, "ours": ours, "issue": issue, "api": api}
    for function in cases.values():
        timed(function, args.warmup)

    cpu = machine()["cpu"]
    print(f"# {dt.date.today().isoformat()}  {os.cpu_count()} CPUs  {cpu}  "
          f"Python {platform.python_version()}  {settings.database_url.split(':')[0]}  "
          f"blobs: {settings.blob_backend}  runs: {args.runs}  "
          f"load average {os.getloadavg()[0]:.1f}")
    # Interleave the cases so drift on a shared machine hits them alike.
    samples: dict[str, list[float]] = {key: [] for key in cases}
    for _ in range(args.runs):
        for key, function in cases.items():
            samples[key] += timed(function, 1)
    base = report("pyHanko alone", samples["raw"])
    report("signing.sign_pdf", samples["ours"], base)
    end_to_end = report("issue() end to end", samples["issue"], base)
    report("POST /api/v1/licenses", samples["api"], base)
    verdict = "met" if end_to_end / base <= TARGET else "NOT met"
    print(f"target: issue() at most {TARGET}x pyHanko alone: {verdict} "
          f"({end_to_end / base:.2f}x)")
    app.extensions["yiwang"].dispose()
    runtime.dispose()


if __name__ == "__main__":
    main()
