"""A small standard OpenID Connect provider on loopback for the tests (a stand-in for Keycloak).

Discovery, authorization code with PKCE, RS256-signed ID tokens and access tokens (audience `eakte`, Keycloak's
`realm_access.roles` and an `org_units` claim), a JWKS endpoint, and key rotation. Started in a thread on
127.0.0.1 by `running_provider()`.
"""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi import FastAPI, Form
from fastapi.responses import RedirectResponse

from devstack.processes import free_port

AUDIENCE = "eakte"
CLIENT_ID = "eakte-portal"


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: RSAPrivateKey | EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, EllipticCurvePrivateKey):
        return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "ES256"}
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


class Provider:
    def __init__(self, port: int, roles: list[str]) -> None:
        self.issuer = f"http://127.0.0.1:{port}/realms/stadt"
        self.key: RSAPrivateKey | EllipticCurvePrivateKey = new_key()
        self.alg = "RS256"
        self.kid = "k1"
        self.roles = roles
        self.org_units = ["50"]
        self.user = "rita"
        self.access_ttl_s = 300
        self.jwks_fetches = 0
        self.codes: dict[str, str] = {}  # code -> nonce
        self.app = self._app()

    def rotate(self) -> None:
        """A new signing key with a new kid; the JWKS publishes only the new one from now on."""
        self.key = new_key()
        self.kid = f"k{uuid.uuid4().hex[:8]}"

    def use_ec_key(self) -> None:
        """Sign from now on with a new P-256 key (ES256)."""
        self.key, self.alg, self.kid = ec.generate_private_key(ec.SECP256R1()), "ES256", "ec1"

    def access_token(self, user: str | None = None, roles: list[str] | None = None, **overrides: Any) -> str:
        """An access token as the provider issues it; `overrides` change or add claims (aud, iss, exp ...)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": uuid.uuid4().hex,
            "aud": AUDIENCE,
            "azp": CLIENT_ID,
            "iat": now,
            "exp": now + self.access_ttl_s,
            "preferred_username": user or self.user,
            "realm_access": {"roles": self.roles if roles is None else roles},
            "org_units": self.org_units,
        }
        claims.update(overrides)
        return jwt.encode(claims, self.key, algorithm=self.alg, headers={"kid": self.kid})

    def _id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "f47ac10b",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "preferred_username": self.user,
            "realm_access": {"roles": self.roles},
        }
        return jwt.encode(claims, self.key, algorithm=self.alg, headers={"kid": self.kid})

    def _app(self) -> FastAPI:
        app = FastAPI()
        base = "/realms/stadt"

        @app.get(f"{base}/.well-known/openid-configuration")
        def discovery() -> dict:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/certs",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }

        @app.get(f"{base}/certs")
        def certs() -> dict:
            self.jwks_fetches += 1
            return {"keys": [public_jwk(self.key, self.kid)]}

        @app.get(f"{base}/auth")
        def authorize(redirect_uri: str, state: str, nonce: str, code_challenge: str) -> RedirectResponse:
            assert code_challenge, "the portal must use PKCE"
            code = uuid.uuid4().hex
            self.codes[code] = nonce
            return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302)

        @app.post(f"{base}/token")
        def token(code: str = Form(), code_verifier: str = Form()) -> dict:
            assert code_verifier
            nonce = self.codes.pop(code)
            return {
                "access_token": self.access_token(),
                "token_type": "Bearer",
                "expires_in": self.access_ttl_s,
                "id_token": self._id_token(nonce),
            }

        return app


@contextmanager
def running_provider(roles: list[str] | None = None) -> Iterator[Provider]:
    port = free_port()
    provider = Provider(port, ["records_officer", "offline_access"] if roles is None else roles)
    server = uvicorn.Server(uvicorn.Config(provider.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(5)
