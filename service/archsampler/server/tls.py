"""Server TLS credentials (optionally mutual TLS) from PEM files named in the settings."""

from __future__ import annotations

from pathlib import Path

import grpc

from archsampler.config import Settings


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {what} {path!r}: {e.strerror or e}") from e


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials for `add_secure_port`, or None when TLS is off (no cert configured).

    With `tls_client_ca_file` set, clients must present a certificate signed by that CA.

    Raises:
        ValueError: only one of cert/key is set, a client CA without a server cert, or a file
            cannot be read.
    """
    cert, key = settings.tls_cert_file, settings.tls_key_file
    client_ca = settings.tls_client_ca_file
    if not cert and not key:
        if client_ca:
            raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file")
        return None
    if not cert or not key:
        raise ValueError("TLS needs both tls_cert_file and tls_key_file")
    pair = (_read(key, "TLS key"), _read(cert, "TLS certificate"))
    root = _read(client_ca, "client CA") if client_ca else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=root, require_client_auth=root is not None
    )
