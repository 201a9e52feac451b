"""Identifiers the identity provider keys on.

``ric`` handles resident ID numbers (GB 11643) of natural persons and ``uscc``
unified social credit codes (GB 32100) of legal entities. Both follow
python-stdnum's shape: ``compact``, ``validate``, ``is_valid``, ``format`` and
``mask``.
"""

from idp.identifiers import ric, uscc

__all__ = ["ric", "uscc"]
