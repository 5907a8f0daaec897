"""`make bench-evidence`: evidence records (RFC 4998) against the test TSA (OpenSSL's `ts` on loopback).

For N packages (default 1,000; synthetic tag manifests): the time of one batch (hash tree + one time-stamp),
the evidence record size (it grows by one hash per tree level), our verify rate (hash tree, token signature and
TSA chain, records/s), Bouncy Castle's verify rate (one JVM for all records), and a time-stamp renewal. The
time-stamps per hour at the default batching follow from EAKTE_TSA_BATCH_S: one per batch period and replica.
With `--through-stack N` (default 100) also the whole stack with the test TSA at the default batching: N
documents through the pipeline, how many time-stamps their evidence records took, how long the last package
waited for its record, and the rate of `POST /api/v1/archive/verify` with `"evidence": true` (records/s, the
objects re-read from MinIO). Writes bench-results/evidence.json.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from devstack.ers_verifier import bc_verify
from devstack.processes import free_port
from devstack.tsa import TsaServer
from services.archive import ers
from services.archive.tsa import TsaClient, check_token, load_trust
from shared.settings import Settings
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.bench.archive import JWT_SECRET, archive_through_pipeline, headers


def _tag_manifest(index: int) -> bytes:
    return f"{index:064x}  bagit.txt\n{index + 1:064x}  bag-info.txt\n{index + 2:064x}  manifest-sha256.txt\n".encode()


def measure(count: int, workdir: Path) -> dict[str, object]:
    tsa = TsaServer(workdir / "tsa", free_port()).start()
    try:
        client, trusted = TsaClient(tsa.url, tsa.ca_file), load_trust(tsa.ca_file)
        data = [_tag_manifest(i) for i in range(count)]
        started = time.perf_counter()
        hashes = [ers.digest("sha256", d) for d in data]
        tree = ers.build_tree("sha256", [[h] for h in hashes])
        token = client.stamp("sha256", tree.root)
        records = [ers.new_record("sha256", tree.reduced[h], token) for h in hashes]
        batch_s = time.perf_counter() - started

        started = time.perf_counter()
        for d, r in zip(data, records, strict=True):
            check = ers.check_record(r, d)
            assert not check.problems and not any(check_token(s.token, trusted).problems for s in check.stamps)
        ours_s = time.perf_counter() - started

        pairs = []
        for i, (d, r) in enumerate(zip(data, records, strict=True)):
            (workdir / f"{i}.txt").write_bytes(d)
            (workdir / f"{i}.ers").write_bytes(r)
            pairs.append((workdir / f"{i}.txt", workdir / f"{i}.ers"))
        started = time.perf_counter()
        assert bc_verify(tsa.ca_file, pairs).ok
        bc_s = time.perf_counter() - started

        started = time.perf_counter()
        groups = [ers.timestamp_renewal_group(r) for r in records]
        renewal_tree = ers.build_tree("sha256", groups)
        renewal_token = client.stamp("sha256", renewal_tree.root)
        renewed = [
            ers.with_timestamp_renewal(r, renewal_tree.reduced[ers.node_hash("sha256", g)], renewal_token)
            for r, g in zip(records, groups, strict=True)
        ]
        renewal_s = time.perf_counter() - started
    finally:
        tsa.stop()
    sizes = [len(r) for r in records]
    batch_period = Settings().tsa_batch_s
    return {
        "packages": count,
        "time_stamps_per_hour_default_batching": round(3600 / batch_period),
        "default_batch_s": batch_period,
        "batch_seconds": round(batch_s, 3),
        "evidence_record_bytes": {"min": min(sizes), "median": statistics.median(sizes), "max": max(sizes)},
        "renewed_record_bytes_median": statistics.median(len(r) for r in renewed),
        "verify_records_per_s_ours": round(count / ours_s, 1),
        "verify_records_per_s_bouncy_castle": round(count / bc_s, 1),
        "renewal_seconds": round(renewal_s, 3),
    }


def through_stack(count: int, workdir: Path) -> dict[str, object]:
    """The archive service with the test TSA at the default batching, N documents through the pipeline."""
    tsa = TsaServer(workdir / "stack-tsa", free_port()).start()
    env = {"EAKTE_TSA_URL": tsa.url, "EAKTE_TSA_CA_FILE": str(tsa.ca_file)}
    try:
        with bench_stack(JWT_SECRET, base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}, "archive": env}) as stack:
            archived = archive_through_pipeline(stack, count)
            ids = [a["document_id"] for a in archived]
            done_archiving = time.perf_counter()
            records = headers("records_officer")
            client = httpx.Client(timeout=None, headers=records)
            base = f"{stack.url('archive')}/api/v1/archive"
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                paths = [{o["path"] for o in client.get(f"{base}/{i}/package").json()["objects"]} for i in ids[-5:]]
                if all("evidence.ers" in p for p in paths):
                    break
                time.sleep(1)
            waited_s = time.perf_counter() - done_archiving
            started = time.perf_counter()
            report = client.post(f"{base}/verify", json={"document_ids": ids, "evidence": True}).json()
            verify_s = time.perf_counter() - started
    finally:
        tsa.stop()
    stamps = int((workdir / "stack-tsa" / "serial").read_text().strip(), 16) - 1
    return {
        "documents": count,
        "time_stamps_used": stamps,
        "last_package_waited_for_its_record_s": round(waited_s, 1),
        "evidence_ok": report["evidence_ok"],
        "verify_route_records_per_s": round(count / verify_s, 1),
    }


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--through-stack", type=int, default=100, help="documents through the stack (0: none)")
    parser.add_argument("--output", type=Path, default=Path("bench-results/evidence.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eakte-bench-evidence-") as tmp:
        result = measure(args.packages, Path(tmp))
        if args.through_stack:
            result["through_stack"] = through_stack(args.through_stack, Path(tmp))
        write_result(args.output, result)


if __name__ == "__main__":
    main()
