"""Every package's models, imported so that ``metadata`` knows all tables."""

from yiwang.database import Base

import keys.models  # noqa: F401  (registers tables)

metadata = Base.metadata
