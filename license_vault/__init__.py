"""The electronic-license vault: store once, reuse everywhere.

``license_vault`` owns the license catalogue (types, their face fields and
holders), issuance of signed licenses, their single stored copy, their status
and renewals, the holder-authorised and duty-based sharing with other
departments, and the tamper-evident access log the holder can read. License
identifiers (GB/T 36904 style) live in ``license_vault.identifiers`` and its
errors derive from ``license_vault.errors.LicenseVaultError``.

Modules: ``departments`` (issuers, their keys and back-end clients),
``catalogue`` (license types) with ``definitions`` (their JSON schema and
face-data checks), ``printable`` (the one rule for text that is printed or
published) and ``validity`` (periods, dates in China), ``holders``
(holder IDs: validated, sealed, masked), ``issuance`` (validate, number,
render, sign, seal, store, record), ``blobs`` and ``fsck`` (the
content-addressed, encrypted store), ``sql`` (the atomic statements of the
printed-number counter), ``lifecycle`` (status, expiry, renewal), ``reading``
(what verifiers call: ``find_license``, ``find_by_signed_revision``,
``license_status``, ``face_data``, ``seal_record``, ``validation_material``,
``read_pdf``), ``views`` (the ``/api/v1`` blueprint), ``cli`` and ``demo``.
Nothing is imported here, so importing the identifiers or errors stays cheap.
"""
