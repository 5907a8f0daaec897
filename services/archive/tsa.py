"""The time-stamping authority (RFC 3161 over HTTP) as an adapter: ask for a time-stamp token over a hash, and
check a token (signature, signing certificate, chain to the TSA's CA bundle EAKTE_TSA_CA_FILE)."""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from asn1crypto import algos, cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from services.archive.ers import tst_info
from shared.settings import Settings

SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class TsaUnavailable(Exception):
    """The TSA did not answer with a granted time-stamp (the message says why)."""


@dataclass(frozen=True)
class TsaClient:
    """Asks `url` for time-stamps; with a client certificate (mTLS) and/or HTTP basic credentials if configured."""

    url: str
    ca_file: Path | None
    client_cert: Path | None = None
    client_key: Path | None = None
    username: str = ""
    password: str = ""
    timeout_s: float = 30.0

    @staticmethod
    def of(settings: Settings) -> "TsaClient | None":
        if not settings.tsa_url:
            return None
        return TsaClient(
            url=settings.tsa_url,
            ca_file=settings.tsa_ca_file,
            client_cert=settings.tsa_client_cert,
            client_key=settings.tsa_client_key,
            username=settings.tsa_username,
            password=settings.tsa_password,
        )

    def stamp(self, algorithm: str, digest: bytes) -> bytes:
        """The time-stamp token (DER ContentInfo) over `digest`, checked against the request (imprint, nonce)."""
        nonce = secrets.randbits(63)
        request = tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                    "hashed_message": digest,
                },
                "nonce": nonce,
                "cert_req": True,
            }
        )
        cert = (str(self.client_cert), str(self.client_key)) if self.client_cert and self.client_key else None
        auth = httpx.BasicAuth(self.username, self.password) if self.username else None
        try:
            with httpx.Client(cert=cert, auth=auth, timeout=self.timeout_s) as client:
                answer = client.post(
                    self.url, content=request.dump(), headers={"Content-Type": "application/timestamp-query"}
                )
        except httpx.HTTPError as exc:
            raise TsaUnavailable(f"the TSA at {self.url} does not answer: {exc}") from exc
        if answer.status_code != 200:
            raise TsaUnavailable(f"the TSA at {self.url} answered HTTP {answer.status_code}")
        return _granted_token(answer.content, algorithm, digest, nonce)


def _granted_token(body: bytes, algorithm: str, digest: bytes, nonce: int) -> bytes:
    try:
        response = tsp.TimeStampResp.load(body)
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            raise TsaUnavailable(
                f"the TSA refused the time-stamp: {status} {response['status']['status_string'].native}"
            )
        token: bytes = response["time_stamp_token"].dump()
        info = tst_info(token)
    except (ValueError, TypeError, KeyError) as exc:
        raise TsaUnavailable(f"the TSA's answer cannot be read: {exc}") from exc
    imprint = info["message_imprint"]
    if imprint["hash_algorithm"]["algorithm"].native != algorithm or imprint["hashed_message"].native != digest:
        raise TsaUnavailable("the TSA's time-stamp is over another hash than the one asked for")
    if info["nonce"].native != nonce:
        raise TsaUnavailable("the TSA's time-stamp carries another nonce than the one sent")
    return token


@dataclass(frozen=True)
class TokenCheck:
    problems: list[str]
    tsa: str  # the TSA's certificate subject
    time: datetime | None


def load_trust(ca_file: Path | None) -> list[x509.Certificate]:
    if ca_file is None or not ca_file.exists():
        return []
    return x509.load_pem_x509_certificates(ca_file.read_bytes())


def check_token(token: bytes, trusted: list[x509.Certificate]) -> TokenCheck:
    """The token's CMS signature by the TSA's certificate, that certificate's use (timeStamping) and validity at
    the time-stamp's time, and its chain up to one of the `trusted` certificates."""
    try:
        signed = cms.ContentInfo.load(token)["content"]
        info = tst_info(token)
        when: datetime = info["gen_time"].native
        signer_info = signed["signer_infos"][0]
        certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or []]
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return TokenCheck([f"the time-stamp token cannot be read: {exc}"], "", None)
    signer = _signer(signer_info, certs)
    if signer is None:
        return TokenCheck(["the time-stamp token carries no signing certificate"], "", when)
    tsa = signer.subject.rfc4514_string()
    problems = _signature_problems(signed, signer_info, signer)
    problems += _certificate_problems(signer, certs, trusted, when)
    return TokenCheck(problems, tsa, when)


def _signer(signer_info: cms.SignerInfo, certs: list[x509.Certificate]) -> x509.Certificate | None:
    sid = signer_info["sid"]
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            serial, issuer = sid.chosen["serial_number"].native, sid.chosen["issuer"].dump()
            if cert.serial_number == serial and cert.issuer.public_bytes() == issuer:
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == sid.chosen.native:
                return cert
    return None


def _signature_problems(signed: cms.SignedData, signer_info: cms.SignerInfo, signer: x509.Certificate) -> list[str]:
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    hash_type = SIGNATURE_HASHES.get(digest_name)
    if hash_type is None:
        return [f"the time-stamp is signed with an unsupported hash ({digest_name})"]
    content = signed["encap_content_info"]["content"].contents
    attrs = signer_info["signed_attrs"]
    digests = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    h = hashes.Hash(hash_type())
    h.update(content)
    if digests != [h.finalize()]:
        return ["the time-stamp's signed content was changed (message digest)"]
    signed_bytes = b"\x31" + attrs.dump()[1:]  # the signature covers the attributes as a SET
    try:
        key = signer.public_key()
        signature = signer_info["signature"].native
        if isinstance(key, rsa.RSAPublicKey):
            if signer_info["signature_algorithm"].signature_algo == "rsassa_pss":
                pss = padding.PSS(padding.MGF1(hash_type()), padding.PSS.DIGEST_LENGTH)
                key.verify(signature, signed_bytes, pss, hash_type())
            else:
                key.verify(signature, signed_bytes, padding.PKCS1v15(), hash_type())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(hash_type()))
        else:
            return ["the time-stamp is signed with an unsupported key type"]
    except InvalidSignature:
        return ["the time-stamp's signature is invalid"]
    return []


def _certificate_problems(
    signer: x509.Certificate, certs: list[x509.Certificate], trusted: list[x509.Certificate], when: datetime
) -> list[str]:
    problems = []
    try:
        usage = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.TIME_STAMPING not in usage:
            problems.append("the signing certificate is not for time-stamping")
    except x509.ExtensionNotFound:
        problems.append("the signing certificate is not for time-stamping")
    return problems + _chain_problems(signer, certs, trusted, when)


def _chain_problems(
    signer: x509.Certificate, certs: list[x509.Certificate], trusted: list[x509.Certificate], when: datetime
) -> list[str]:
    if not trusted:
        return ["no TSA CA is configured (EAKTE_TSA_CA_FILE) to check the certificate chain against"]
    anchors = {c.fingerprint(hashes.SHA256()) for c in trusted}
    current = signer
    for _depth in range(8):
        if not current.not_valid_before_utc <= when <= current.not_valid_after_utc:
            return [f"the certificate {current.subject.rfc4514_string()} was not valid at the time-stamp's time"]
        if current.fingerprint(hashes.SHA256()) in anchors:
            return []
        issuer = _issuer_of(current, [*trusted, *certs])
        if issuer is None:
            return [f"the certificate {current.subject.rfc4514_string()} does not chain to the configured TSA CA"]
        current = issuer
    return ["the TSA's certificate chain is too long"]


def _issuer_of(cert: x509.Certificate, candidates: list[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != cert.issuer or candidate == cert:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None
