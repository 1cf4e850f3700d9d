"""What both sandboxes' OAuth apps share: the redirect back to the app's callback, callback URL settings, and
a key pair with a certificate for JWT bearer tests (what an integrator makes with openssl)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode, urlsplit

from starlette.responses import RedirectResponse, Response


def redirect_back(redirect_uri: str, params: dict, **query: str) -> Response:
    """A 302 to the app's callback with `query` and the client's state."""
    if params.get("state"):
        query["state"] = params["state"]
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(f"{redirect_uri}{sep}{urlencode(query)}", status_code=302)


def callback_urls(value) -> list[str]:
    """Callback URLs as an admin registers them: absolute URLs (ValueError names what is wrong)."""
    if not isinstance(value, list) or not all(isinstance(u, str) and urlsplit(u).scheme for u in value):
        raise ValueError("callback_urls takes a list of absolute URLs")
    return value


def key_and_certificate(common_name: str = "crm-sync", days: int = 365) -> tuple[str, str]:
    """(private key PEM, self-signed certificate PEM): the pair a connected app's digital signature needs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode()
