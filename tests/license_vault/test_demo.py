"""``yiwang demo`` seeds departments, the catalogue and a few licenses, once."""

from __future__ import annotations

from sqlalchemy import func, select

from license_vault.models import Department, License, LicenseType
from yiwang.demo import seed
from yiwang.runtime import Runtime


def test_demo_issues_licenses_for_the_demo_person_and_entity_once(runtime: Runtime) -> None:
    first = seed(runtime)
    second = seed(runtime)
    with runtime.session() as session:
        counts = [session.scalar(select(func.count()).select_from(model))
                  for model in (Department, LicenseType, License)]
        holders = set(session.scalars(select(License.holder_name)))
    assert counts == [2, 3, 3]
    assert holders == {"示例科技有限公司", "张三"}
    downloads = [line for line in second.lines if "yiwang license get" in line]
    assert len(downloads) == 3 and all("--pdf" in line for line in downloads)
    assert sum("verify:   https://yiwang.test/v/" in line for line in second.lines) == 3
    assert [line for line in first.lines if "download" in line] == downloads
