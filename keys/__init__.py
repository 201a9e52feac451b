"""Keys and certificates: everything Yiwang signs with lives here.

The ``keys`` package owns the master key file, the key store (every private
key wrapped under the master key with AES-256-GCM or SM4-GCM and bound to its
record), the PKI (root CA, issuing CA, time-stamping authority, department
document-signing certificates, CRLs), SM2/SM3, and the recipe layers the
other packages sign and verify tokens with: JOSE for JSON tokens
(:mod:`keys.jws`) and COSE_Sign1 for QR payloads (:mod:`keys.cose`). Other
packages call :class:`KeyStore`, :mod:`keys.jws` and :mod:`keys.cose`; raw key
material does not leave this package except as parsed key objects handed to a
signer.
"""

from .authority import CertificateInfo, PkiLocations
from .departments import DepartmentKeys
from .errors import (
    CertificateNotFoundError,
    CorruptKeyRecordError,
    KeyNotFoundError,
    KeyStoreError,
    MasterKeyFileError,
    MasterKeyMissingError,
    NotInitialisedError,
    SM2Error,
    TokenInvalidError,
    WrongMasterKeyError,
)
from .master import create_master_key, load_master_key
from .material import Algorithm, SigningKey
from .models import IssuedCertificate, KeyRecord, KeyStoreMeta, Purpose
from .services import KeyInfo, KeyStore

__all__ = [
    "Algorithm",
    "CertificateInfo",
    "CertificateNotFoundError",
    "CorruptKeyRecordError",
    "DepartmentKeys",
    "IssuedCertificate",
    "KeyInfo",
    "KeyNotFoundError",
    "KeyRecord",
    "KeyStore",
    "KeyStoreError",
    "KeyStoreMeta",
    "MasterKeyFileError",
    "MasterKeyMissingError",
    "NotInitialisedError",
    "PkiLocations",
    "Purpose",
    "SM2Error",
    "SigningKey",
    "TokenInvalidError",
    "WrongMasterKeyError",
    "create_master_key",
    "load_master_key",
]
