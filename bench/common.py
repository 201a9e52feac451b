"""What the benchmarks share: the machine line, and a vault with one department.

The benchmarks run as scripts (``.venv/bin/python bench/<name>.py``, where the
project is installed), so this module is imported as ``common`` from the bench
folder.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from idp.identifiers import uscc
from license_vault import catalogue, departments, issuance
from license_vault.demo import DEMO_LICENSES, demo_type_definitions
from yiwang.database import utcnow
from yiwang.instance import initialise
from yiwang.runtime import Runtime
from yiwang.settings import Settings

FOOD = "11100000000013127D002"  # 食品经营许可证, the demo type the benchmarks issue
SAMR = "113501000031763279"  # the demo market-regulation department
FIELDS = next(fields for _, code, _, fields in DEMO_LICENSES if code == FOOD)


def holder(sequence: int) -> str:
    """A valid, fictitious unified social credit code for the n-th holder."""
    body = f"{sequence:08d}"
    partial = f"91350100{body}{uscc.calc_organisation_check_digit(body)}"
    return partial + uscc.calc_check_digit(partial)


def machine() -> dict[str, str]:
    """Date, CPU count and model, Python: what a reported number must carry."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%d"), "nproc": str(os.cpu_count()), "cpu": model,
            "python": platform.python_version()}


def vault_world(folder: Path, *, database_url: str | None, issuer: str,
                blob_backend: str = "filesystem"
                ) -> tuple[Runtime, issuance.Vault, departments.RegisteredDepartment]:
    """A fresh instance with the demo department allowed to issue every demo type."""
    overrides = {"database_url": database_url} if database_url else {}
    settings = Settings.from_env({}, instance=folder, master_key_file=folder / "master.key",
                                 issuer=issuer, blob_backend=blob_backend,
                                 log_level="WARNING", **overrides)
    runtime = Runtime(settings)
    initialise(runtime)
    now = utcnow()
    with runtime.session() as session:
        registered = departments.register_department(
            session, runtime.keystore, uscc=SAMR, name="福州市市场监督管理局", now=now)
        for definition in demo_type_definitions():
            catalogue.add_license_type(session, {**definition, "issuers": [SAMR]}, now=now)
    return runtime, issuance.open_vault(runtime.keystore, settings), registered
