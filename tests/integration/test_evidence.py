"""Evidence records (RFC 4998) over time-stamps of a real TSA (OpenSSL's `ts` responder on loopback), checked
by our verifier, by `openssl ts -verify` and by Bouncy Castle's `org.bouncycastle.tsp.ers`."""

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.ers_verifier import bc_verify
from devstack.processes import free_port
from devstack.stack import Stack
from devstack.tsa import TsaServer, openssl
from services.archive import ers
from services.archive.evidence import record_number
from shared.storage import ObjectStore
from tests.integration.conftest import JWT_SECRET, Api, wait_for
from tests.integration.package_files import package_file
from tests.integration.test_archive import _archive_document, _archived, _records

PACKAGES = 20
PLAIN_BUCKET = "eakte-archive-evidence-plain"


@pytest.fixture(scope="module")
def tsa(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TsaServer]:
    server = TsaServer(tmp_path_factory.mktemp("tsa"), free_port()).start()
    yield server
    server.stop()


def _tsa_env(tsa: TsaServer, **extra: str) -> dict[str, str]:
    return {
        "EAKTE_TSA_URL": tsa.url,
        "EAKTE_TSA_CA_FILE": str(tsa.ca_file),
        "EAKTE_TSA_BATCH_S": "2",
        "EAKTE_ARCHIVE_RETENTION_OVERRIDE_S": "3600",
        **extra,
    }


@pytest.fixture
def evidence_archive(stack: Stack, tsa: TsaServer) -> Iterator[TsaServer]:
    """The archive service with the test TSA (batches every 2 s); its normal settings again afterwards."""
    stack.restart_service("archive", **_tsa_env(tsa))
    try:
        yield tsa
    finally:
        stack.restart_service("archive")


def _objects(api: Api, stack: Stack, document_id: str) -> dict[str, dict]:
    url = f"{stack.url('archive')}/api/v1/archive/{document_id}/package"
    response = api.http.get(url, headers=_records(api))
    assert response.status_code == 200, response.text
    return {o["path"]: o for o in response.json()["objects"]}


def _with_record(api: Api, stack: Stack, document_id: str, path: str = "evidence.ers") -> dict[str, dict]:
    def listed() -> dict[str, dict] | None:
        objects = _objects(api, stack, document_id)
        return objects if path in objects else None

    found: dict[str, dict] = wait_for(listed, timeout_s=60)
    return found


def _read(stack: Stack, bucket: str, obj: dict) -> bytes:
    return package_file(ObjectStore(stack.settings()).client, bucket, obj)


def _verify(api: Api, stack: Stack, document_ids: list[str]) -> dict:
    url = f"{stack.url('archive')}/api/v1/archive/verify"
    response = api.http.post(url, headers=_records(api), json={"document_ids": document_ids, "evidence": True})
    assert response.status_code == 200, response.text
    return response.json()


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eakte_cli", "archive", *args, "--url", stack.url("archive")],
        env={**os.environ, "EAKTE_JWT_SECRET": JWT_SECRET},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _written(
    tmp_path: Path, stack: Stack, bucket: str, document_id: str, objects: dict[str, dict]
) -> tuple[Path, Path]:
    """The package's tag manifest and current evidence record as files (for OpenSSL and Bouncy Castle)."""
    record_path = max((p for p in objects if record_number(p)), key=lambda p: record_number(p) or 0)
    data, record = tmp_path / f"{document_id}.txt", tmp_path / f"{document_id}.ers"
    data.write_bytes(_read(stack, bucket, objects["tagmanifest-sha256.txt"]))
    record.write_bytes(_read(stack, bucket, objects[record_path]))
    return data, record


def test_every_package_gets_an_evidence_record_others_accept_and_renewal_keeps(
    api: Api, stack: Stack, evidence_archive: TsaServer, tmp_path: Path
) -> None:
    document_ids = [_archive_document(api, title=f"Bauantrag {n}") for n in range(PACKAGES)]
    for document_id in document_ids:
        _archived(api, document_id)
    bucket = stack.settings().archive_bucket
    packages = {d: _with_record(api, stack, d) for d in document_ids}

    # A locked object of the package, listed by /package, over one or more tree roots (batches of 2 s).
    tokens = set()
    for document_id, objects in packages.items():
        record = objects["evidence.ers"]
        assert record["retention_mode"] == "COMPLIANCE" and record["version_id"] and record["sha256"]
        assert record["retain_until"] == objects["tagmanifest-sha256.txt"]["retain_until"]
        data, record_file = _written(tmp_path, stack, bucket, document_id, objects)
        check = ers.check_record(record_file.read_bytes(), data.read_bytes())
        assert check.problems == [] and len(check.stamps) == 1
        tokens.add(check.stamps[0].token)
    assert 1 <= len(tokens) < PACKAGES  # batched: far fewer time-stamps than packages

    # Our verifier: hash tree -> time-stamp -> TSA certificate chain, per package.
    report = _verify(api, stack, document_ids)
    assert (report["checked"], report["ok"], report["evidence_ok"], report["evidence_failed"]) == (PACKAGES,) * 3 + (0,)
    for result in report["results"]:
        evidence = result["evidence"]
        assert evidence["ok"] and evidence["tsa"] == "CN=E-Akte Test TSA,O=E-Akte Test,C=DE" and evidence["time"]

    # OpenSSL accepts our time-stamp tokens (over the tree roots they carry).
    for n, token in enumerate(tokens):
        token_file = tmp_path / f"token-{n}.der"
        token_file.write_bytes(token)
        imprint = ers.tst_info(token)["message_imprint"]["hashed_message"].native.hex()
        argv = [openssl(), "ts", "-verify", "-token_in", "-in", str(token_file), "-digest", imprint]
        done = subprocess.run([*argv, "-CAfile", str(evidence_archive.ca_file)], capture_output=True, text=True)
        assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr

    # Bouncy Castle accepts our evidence records for the tag manifests they protect.
    pairs = [_written(tmp_path, stack, bucket, d, o) for d, o in packages.items()]
    verdict = bc_verify(evidence_archive.ca_file, pairs)
    assert verdict.ok, verdict.lines

    # Time-stamp renewal, then hash-tree renewal with SHA-512: each a new sibling record; everyone still agrees.
    for args, path in (
        (["renew-evidence"], "evidence-2.ers"),
        (["renew-evidence", "--algorithm", "sha512"], "evidence-3.ers"),
    ):
        done = _cli(stack, *args)
        # The renewal covers the whole archive of the shared stack: packages other tests damaged on purpose are named
        # and not renewed (exit 2); none of ours may be among them.
        skipped = [line for line in done.stdout.splitlines() if "not renewed" in line]
        assert done.returncode == (2 if skipped else 0), done.stdout + done.stderr
        assert not [line for line in skipped if line.split()[0] in document_ids], skipped
        assert "record(s) renewed" in done.stdout
        renewed = {d: _objects(api, stack, d) for d in document_ids}
        assert all(path in objects for objects in renewed.values())
        for document_id, objects in renewed.items():  # the other objects are the very versions written first
            for name, obj in packages[document_id].items():
                assert objects[name]["version_id"] == obj["version_id"]
        report = _verify(api, stack, document_ids)
        assert report["evidence_ok"] == PACKAGES, report
        verdict = bc_verify(
            evidence_archive.ca_file, [_written(tmp_path, stack, bucket, d, o) for d, o in renewed.items()]
        )
        assert verdict.ok, verdict.lines
    last = report["results"][0]["evidence"]
    assert last["record"] == "evidence-3.ers" and last["chains"] == 2 and last["algorithms"] == ["sha256", "sha512"]

    cli = _cli(stack, "verify", "--evidence")
    assert "evidence ok" in cli.stdout


def test_a_flipped_byte_in_an_original_fails_evidence_verification(api: Api, stack: Stack, tsa: TsaServer) -> None:
    """In a store without WORM (only there can a byte change), the evidence check names the changed file."""
    stack.restart_service(
        "archive", **_tsa_env(tsa, EAKTE_ARCHIVE_OBJECT_LOCK="false", EAKTE_ARCHIVE_BUCKET=PLAIN_BUCKET)
    )
    try:
        changed, intact = _archive_document(api), _archive_document(api)
        for document_id in (changed, intact):
            _archived(api, document_id)
        wait_for(lambda: all(r["evidence"]["record"] for r in _verify(api, stack, [changed, intact])["results"]))
        # /package in a bucket without object lock: every object listed, none with a retention it does not have.
        listed = _objects(api, stack, intact)
        assert {"data/original.pdf", "evidence.ers"} <= set(listed)
        assert all(o["retention_mode"] is None and not o["legal_hold"] for o in listed.values()), listed
        client = ObjectStore(stack.settings()).client
        key = f"packages/{changed}/data/original.pdf"
        original = bytearray(client.get_object(PLAIN_BUCKET, key).read())
        original[len(original) // 2] ^= 0x01
        client.put_object(PLAIN_BUCKET, key, io.BytesIO(bytes(original)), len(original))

        report = _verify(api, stack, [changed, intact])
        results = {r["document_id"]: r for r in report["results"]}
        assert results[intact]["evidence"]["ok"]
        evidence = results[changed]["evidence"]
        assert not evidence["ok"]
        assert any("data/original.pdf" in p and "changed" in p for p in evidence["problems"]), evidence
        cli = _cli(stack, "verify", "--evidence")
        assert cli.returncode == 2 and "evidence NOT ok" in cli.stdout and "data/original.pdf" in cli.stdout
    finally:
        stack.restart_service("archive")
