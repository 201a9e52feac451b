"""Demo data for ``yiwang demo``: two departments, three license types, a few licenses.

The departments' client secrets are fixed so the printed commands keep
working across restarts; they are for the demo ONLY. Seeding twice adds
nothing.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.demo import DEMO_ENTITY, DEMO_ID_NUMBER, DEMO_NAME, DEMO_USCC
from license_vault import catalogue, departments, issuance
from license_vault.holders import resolve_holder
from license_vault.models import Department, License
from yiwang.database import utcnow
from yiwang.settings import Settings

__all__ = ["DEMO_DEPARTMENTS", "demo_type_definitions", "seed_demo"]

# (USCC, name, client secret): fictitious codes with valid check characters.
DEMO_DEPARTMENTS = (
    ("113501000031763279", "福州市市场监督管理局", "yiwang-demo-samr-secret-NOT-FOR-PRODUCTION"),
    ("11350100003178197K", "福州市卫生健康委员会", "yiwang-demo-health-secret-NOT-FOR-PRODUCTION"),
)
TYPE_FILES = ("business_license.json", "food_business_license.json", "physician_license.json")
BUSINESS_SCOPE = (
    "一般项目：软件开发；信息系统集成服务；数据处理和存储支持服务；信息技术咨询服务。"
    "（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）")

DEMO_LICENSES: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("113501000031763279", "11100000000013127D001", DEMO_USCC, {
        "name": DEMO_ENTITY, "entity_type": "有限责任公司（自然人投资或控股）",
        "legal_representative": DEMO_NAME, "registered_capital": "5000000",
        "established": "2018-06-08", "address": "福建省福州市鼓楼区五四路158号环球广场18层",
        "business_scope": BUSINESS_SCOPE, "registration_authority": "福州市市场监督管理局"}),
    ("113501000031763279", "11100000000013127D002", DEMO_USCC, {
        "operator": DEMO_ENTITY, "legal_representative": DEMO_NAME,
        "address": "福建省福州市鼓楼区五四路158号环球广场18层",
        "premises": "福建省福州市鼓楼区五四路158号环球广场1层101室",
        "business_form": "餐饮服务经营者",
        "business_items": "热食类食品制售；冷食类食品制售；自制饮品制售（不含生食类食品）",
        "supervisor": "福州市鼓楼区市场监督管理局", "hotline": "12315"}),
    ("11350100003178197K", "1110000000001930X6001", DEMO_ID_NUMBER, {
        "name": DEMO_NAME, "sex": "女", "birth_date": "1949-12-31",
        "physician_level": "执业医师", "practice_category": "临床",
        "practice_scope": "内科专业", "practice_place": "福建省福州市",
        "institution": "福州市第一医院", "qualification_number": "199835110350100001"}),
)


def demo_type_definitions() -> list[dict[str, Any]]:
    """The three demo license types shipped as package data (``license_vault/data``)."""
    folder = resources.files("license_vault") / "data"
    return [json.loads((folder / name).read_text(encoding="utf-8")) for name in TYPE_FILES]


def seed_demo(session: Session, keystore: Any, settings: Settings) -> list[str]:
    """Create what is missing; return the lines to print. Commits (issuance does)."""
    now = utcnow()
    lines: list[str] = []
    for uscc, name, secret in DEMO_DEPARTMENTS:
        department = session.scalar(select(Department).where(Department.uscc == uscc))
        if department is None:
            department = departments.register_department(
                session, keystore, uscc=uscc, name=name, now=now,
                client_secret=secret).department
        lines.append(f"department {name} ({uscc}): client_id {department.client_id}, "
                     f"client_secret {secret}  (fixed demo value)")
    for definition in demo_type_definitions():
        catalogue.add_license_type(session, definition, now=now)
    session.commit()
    vault = issuance.open_vault(keystore, settings)
    for uscc, type_code, holder_id, fields in DEMO_LICENSES:
        license = _existing(session, keystore, type_code, holder_id)
        if license is None:
            issuer = departments.get_department(session, uscc)
            license = issuance.issue(session, vault, department=issuer, actor="demo", now=now,
                                     request=issuance.IssueRequest(type_code, holder_id, fields))
        lines += _license_lines(session, license)
    first_department = session.scalar(select(Department).where(
        Department.uscc == DEMO_DEPARTMENTS[0][0]))
    assert first_department is not None
    lines += [
        "API: get a token, then fetch a license of that department:",
        f"  curl -s -u {first_department.client_id}:{DEMO_DEPARTMENTS[0][2]} "
        f"-d grant_type=client_credentials -d scope=licenses:read {settings.issuer}/token",
        f"  curl -H 'Authorization: Bearer TOKEN' {settings.issuer}/api/v1/licenses/IDENTIFIER"
        " (add /pdf for the file)",
    ]
    return lines


def _existing(session: Session, keystore: Any, type_code: str, holder_id: str) -> License | None:
    record = catalogue.get_type(session, type_code)
    holder = resolve_holder(keystore, record.holder_kind, holder_id)
    return session.scalar(select(License).where(
        License.type_code == type_code, License.holder_key == holder.key)
        .order_by(License.version.desc()).limit(1))


def _license_lines(session: Session, license: License) -> list[str]:
    record = catalogue.get_type(session, license.type_code)
    slug = {"11100000000013127D001": "business-license",
            "11100000000013127D002": "food-business-license"}.get(license.type_code,
                                                                  "physician-license")
    return [f"{record.name} {license.license_number} of {license.holder_name}:",
            f"  download: yiwang license get {license.identifier} --pdf {slug}.pdf",
            f"  verify:   {license.qr_url}"]
