"""Client-side security helpers: TLS channel credentials and bearer-token metadata."""

from __future__ import annotations

from pathlib import Path

import grpc


def tls_credentials(
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
) -> grpc.ChannelCredentials:
    """Channel credentials for a TLS server, optionally with a client certificate (mutual TLS).

    Args:
        ca_file: PEM bundle of the CA(s) that signed the server certificate; None uses the
            system roots.
        cert_file: client certificate chain (PEM), for servers that require mutual TLS.
        key_file: private key (PEM) of `cert_file`.
    """
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate needs both cert_file and key_file")
    return grpc.ssl_channel_credentials(
        root_certificates=Path(ca_file).read_bytes() if ca_file is not None else None,
        private_key=Path(key_file).read_bytes() if key_file is not None else None,
        certificate_chain=Path(cert_file).read_bytes() if cert_file is not None else None,
    )


def call_metadata(
    metadata: list[tuple[str, str]] | None, token: str | None
) -> list[tuple[str, str]] | None:
    """`metadata` plus `authorization: Bearer <token>` when a token is given."""
    if token is None:
        return metadata
    if not token or token != token.strip():
        raise ValueError("token must be a non-empty string without surrounding whitespace")
    return [*(metadata or []), ("authorization", f"Bearer {token}")]
