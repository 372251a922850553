"""DKIM test keys and signatures, made by dkimpy, and the DNS answers for them: what a test supplies
instead of the real DNS (mailtext.trust's lookups are injectable)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class SigningKey:
    """An RSA key published (by `Dns`) as `selector`._domainkey.`domain`."""

    domain: str
    selector: str = "s1"
    bits: int = 1024  # dkimpy's smallest accepted, and quick to make
    private_pem: bytes = b""
    txt: str = ""

    def __post_init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=self.bits)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.txt = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def sign(self, raw: bytes, *, headers: list[bytes] | None = None) -> bytes:
        """`raw` with this key's DKIM-Signature on top (relaxed/relaxed, the common choice)."""
        signature = dkim.sign(
            raw,
            self.selector.encode(),
            self.domain.encode(),
            self.private_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers,
            linesep=b"\r\n" if b"\r\n" in raw else b"\n",
        )
        return bytes(signature) + raw


@dataclass
class Dns:
    """TXT records by name, as a test's DNS: a name in `failing` raises (a timeout), one absent is None."""

    records: dict[str, str] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def publish(self, *keys: SigningKey) -> Dns:
        for key in keys:
            self.records[key.name] = key.txt
        return self

    def __call__(self, name: str) -> str | None:
        self.asked.append(name)
        if name in self.failing:
            raise TimeoutError(f"no answer for {name}")
        return self.records.get(name)
