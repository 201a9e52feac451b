"""The OpenID Connect provider: one login for every channel.

``idp`` owns the identities Yiwang vouches for: persons keyed on their
resident ID number (GB 11643, stored encrypted and shown masked) and legal
entities keyed on their unified social credit code (GB 32100), the agents who
act for entities, and the login, grants and tokens that web portals, mobile
apps, kiosks and department back ends rely on. Its identifiers live in
``idp.identifiers`` and its errors derive from ``idp.errors.IdpError``.
"""
