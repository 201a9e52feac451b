"""Benchmark: licenses issued per second end to end, against bare pyHanko signing.

Builds a throw-away instance (SQLite in a temporary folder unless
``--database-url`` names an empty PostgreSQL database), registers the demo
departments and license types, then measures, one license at a time:

* **pyHanko alone** — ``PdfSigner.sign_pdf`` with the settings
  ``signing.sign_pdf`` uses, on one pre-rendered license PDF, with the same
  department signer and time stamper;
* **bare signing** — ``signing.sign_pdf`` itself (pyHanko, PAdES B-T,
  certified, plus its check that the signature covers the whole file);
* **issue()** — ``license_vault.issuance.issue``: validate, number, QR payload,
  render, sign, SM2 seal, blob write (fsync) and commit;
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
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from idp.identifiers import uscc
from license_vault import catalogue, departments, identifiers, issuance
from license_vault.blobs import open_blob_store
from license_vault.demo import DEMO_LICENSES, demo_type_definitions
from signing import DEFAULT_BYTES_RESERVED, render_license, sign_pdf
from yiwang.app import create_app
from yiwang.database import utcnow
from yiwang.instance import initialise
from yiwang.runtime import Runtime
from yiwang.settings import Settings

FOOD = "11100000000013127D002"
SAMR = "113501000031763279"
FIELDS = next(fields for _, code, _, fields in DEMO_LICENSES if code == FOOD)


def holder(sequence: int) -> str:
    body = f"{sequence:08d}"
    partial = f"91350100{body}{uscc.calc_organisation_check_digit(body)}"
    return partial + uscc.calc_check_digit(partial)


def timed(function: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return times


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(name: str, times: list[float], base: float | None = None) -> float:
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    ratio = f"  {median / base:.2f}x bare signing" if base else ""
    print(f"{name:<28} median {median:6.1f} ms  p90 {p90:6.1f} ms  "
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
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = Settings.from_env({}, instance=folder, master_key_file=folder / "master.key",
                                 issuer="https://zwfw.yiwang.example.gov.cn",
                                 blob_backend=args.blob_backend, log_level="WARNING",
                                 **overrides)
    runtime = Runtime(settings)
    initialise(runtime)
    with runtime.session() as session:
        registered = departments.register_department(
            session, runtime.keystore, uscc=SAMR, name="福州市市场监督管理局", now=utcnow())
        catalogue.add_license_type(session, demo_type_definitions()[1], now=utcnow())
    vault = issuance.Vault(runtime.keystore,
                           open_blob_store(settings.blob_backend, settings.blob_dir),
                           settings.issuer)
    counter = iter(range(1, 10**9))

    def issue() -> None:
        with runtime.session() as session:
            department = departments.get_department(session, SAMR)
            issuance.issue(session, vault, department=department, actor="bench", now=utcnow(),
                           request=issuance.IssueRequest(FOOD, holder(next(counter)), FIELDS))

    # One real license, re-rendered, is what bare signing signs.
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

    def bare() -> None:
        sign_pdf(pdf, signer=signer, timestamper=stamper, reason=issuance.SIGNING_REASON,
                 location="福州市市场监督管理局")

    meta = signers.PdfSignatureMetadata(
        field_name="YiwangSeal", reason=issuance.SIGNING_REASON, location="福州市市场监督管理局",
        md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES, certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES, embed_validation_info=False)

    def raw() -> None:
        # pyHanko alone, as signing.sign_pdf calls it, without its check of the result.
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

    for function in (raw, bare, issue, api):
        timed(function, args.warmup)

    print(f"# {dt.date.today().isoformat()}  {os.cpu_count()} CPUs  {cpu_model()}  "
          f"Python {platform.python_version()}  {settings.database_url.split(':')[0]}  "
          f"blobs: {settings.blob_backend}  runs: {args.runs}")
    # Interleave the three so drift on a shared machine hits them alike.
    samples: dict[str, list[float]] = {"raw": [], "bare": [], "issue": [], "api": []}
    for _ in range(args.runs):
        samples["raw"] += timed(raw, 1)
        samples["bare"] += timed(bare, 1)
        samples["issue"] += timed(issue, 1)
        samples["api"] += timed(api, 1)
    raw_median = report("pyHanko PdfSigner alone", samples["raw"])
    base = report("bare signing (sign_pdf)", samples["bare"])
    for name, key in (("issue() end to end", "issue"), ("POST /api/v1/licenses", "api")):
        median = report(name, samples[key], base)
        print(f"{'':<28} {median / raw_median:.2f}x pyHanko PdfSigner alone")
    app.extensions["yiwang"].dispose()
    runtime.dispose()


if __name__ == "__main__":
    main()
