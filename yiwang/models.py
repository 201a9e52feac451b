"""Every package's models, imported so that ``metadata`` knows all tables."""

import idp.models  # noqa: F401
import keys.models  # noqa: F401  (registers tables)
import license_vault.models  # noqa: F401
from yiwang.database import Base

metadata = Base.metadata
