"""The Yiwang service: wires the domain packages into one app and one CLI.

``yiwang`` owns what every package shares — settings read from the
environment (:mod:`yiwang.settings`), the declarative base, engine and
sessions (:mod:`yiwang.database`), migrations, the app factory with its
security headers, CSRF and error pages (:mod:`yiwang.app`, :mod:`yiwang.web`),
the one strict reader of JSON request bodies (:mod:`yiwang.json_bodies`), the
published PKI (:mod:`yiwang.pki`), and the ``yiwang`` command. Domain
packages import its database and settings modules, their views and commands
the web and JSON-body modules; nothing else here is imported from outside.
"""
