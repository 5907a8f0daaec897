"""An in-process time-stamping authority for unit tests: real RFC 3161 tokens (CMS SignedData over a TSTInfo),
signed with a throwaway RSA key whose certificate a throwaway CA issued. The integration tests use OpenSSL's."""

import hashlib
import itertools
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, issuer: str, key: rsa.RSAPrivateKey, signer: rsa.RSAPrivateKey, tsa: bool, days: int
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=not tsa, path_length=None), critical=True)
    )
    if tsa:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return builder.sign(signer, hashes.SHA256())


class FakeTsa:
    """`stamp(algorithm, digest)` answers like `services.archive.tsa.TsaClient.stamp`."""

    def __init__(self, name: str = "Test TSA", usage_time_stamping: bool = True) -> None:
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ca = _certificate(f"{name} CA", f"{name} CA", self.ca_key, self.ca_key, tsa=False, days=3650)
        self.certificate = _certificate(name, f"{name} CA", self.key, self.ca_key, usage_time_stamping, days=365)
        self.serials = itertools.count(1)
        self.requests = 0

    def stamp(self, algorithm: str, digest: bytes) -> bytes:
        self.requests += 1
        info = tsp.TSTInfo(
            {
                "version": 1,
                "policy": "1.2.3.4.1",
                "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
                "serial_number": next(self.serials),
                "gen_time": datetime.now(UTC).replace(microsecond=0),
            }
        )
        content = info.dump()
        attributes = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
            ]
        )
        signature = self.key.sign(attributes.dump(), padding.PKCS1v15(), hashes.SHA256())
        cert = asn1_x509.Certificate.load(self.certificate.public_bytes(serialization.Encoding.DER))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {"issuer_and_serial_number": {"issuer": cert.issuer, "serial_number": cert.serial_number}}
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": attributes,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
                "signature": signature,
            }
        )
        signed = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {"content_type": "tst_info", "content": info},
                "certificates": [cert],
                "signer_infos": [signer],
            }
        )
        token: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
        return token
