"""The electronic-license vault: store once, reuse everywhere.

``license_vault`` owns the license catalogue (types, their face fields and
holders), issuance of signed licenses, their single stored copy, their status
and renewals, the holder-authorised and duty-based sharing with other
departments, and the tamper-evident access log the holder can read. License
identifiers (GB/T 36904 style) live in ``license_vault.identifiers`` and its
errors derive from ``license_vault.errors.LicenseVaultError``.
"""
