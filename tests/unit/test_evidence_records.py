"""Evidence records (RFC 4998): hash trees, records, renewal and their checks, with an in-process TSA."""

import pytest

from services.archive import ers
from services.archive.tsa import check_token
from tests.unit.fake_tsa import FakeTsa


@pytest.fixture(scope="module")
def tsa() -> FakeTsa:
    return FakeTsa()


def _data(count: int) -> list[bytes]:
    return [f"tag manifest of package {n}\n".encode() for n in range(count)]


def _records(tsa: FakeTsa, data: list[bytes], algorithm: str = "sha256") -> list[bytes]:
    leaves = [ers.digest(algorithm, d) for d in data]
    tree = ers.build_tree(algorithm, [[leaf] for leaf in leaves])
    token = tsa.stamp(algorithm, tree.root)
    return [ers.new_record(algorithm, tree.reduced[leaf], token) for leaf in leaves]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 9, 20])
def test_every_reduced_hash_tree_leads_to_the_root(count: int) -> None:
    leaves = [ers.digest("sha256", d) for d in _data(count)]
    tree = ers.build_tree("sha256", [[leaf] for leaf in leaves])
    for leaf in leaves:
        reduced = tree.reduced[leaf]
        if count == 1:
            assert reduced is None and tree.root == leaf
        else:
            assert reduced is not None and leaf in reduced[0]
            assert ers.recover_root("sha256", reduced) == tree.root
            assert len(reduced) <= count.bit_length()  # a path, not the whole tree


def test_a_record_holds_for_its_data_object_and_for_no_other(tsa: FakeTsa) -> None:
    data = _data(5)
    records = _records(tsa, data)
    for d, record in zip(data, records, strict=True):
        check = ers.check_record(record, d)
        assert check.problems == [] and len(check.stamps) == 1 and check.first_time is not None
        assert check_token(check.stamps[0].token, [tsa.ca]).problems == []
    changed = ers.check_record(records[0], data[0] + b"x")
    assert changed.problems == [
        "chain 1, time-stamp 1: the protected hash is not in the hash tree (the data object was changed)"
    ]
    assert ers.check_record(records[0], b"a tag manifest never time-stamped\n").problems


def test_one_time_stamp_per_batch() -> None:
    tsa = FakeTsa()
    _records(tsa, _data(20))
    assert tsa.requests == 1


def test_a_single_package_batch_is_time_stamped_directly(tsa: FakeTsa) -> None:
    [record] = _records(tsa, _data(1))
    assert ers.check_record(record, _data(1)[0]).problems == []
    assert not ers.EvidenceRecord.load(record)["archive_time_stamp_sequence"][0][0]["reduced_hashtree"].native


def test_time_stamp_renewal_then_hash_tree_renewal_keep_the_record_valid(tsa: FakeTsa) -> None:
    data = _data(3)
    records = _records(tsa, data)
    for _round in range(2):  # two time-stamp renewals: the chain grows, the algorithm stays
        groups = [ers.timestamp_renewal_group(r) for r in records]
        tree = ers.build_tree("sha256", groups)
        token = tsa.stamp("sha256", tree.root)
        records = [
            ers.with_timestamp_renewal(r, tree.reduced[ers.node_hash("sha256", g)], token)
            for r, g in zip(records, groups, strict=True)
        ]
    hashes = [ers.hashtree_renewal_hash(r, "sha512", d) for r, d in zip(records, data, strict=True)]
    tree = ers.build_tree("sha512", [[h] for h in hashes])
    token = tsa.stamp("sha512", tree.root)
    records = [
        ers.with_hashtree_renewal(r, "sha512", tree.reduced[h], token) for r, h in zip(records, hashes, strict=True)
    ]
    for d, record in zip(data, records, strict=True):
        check = ers.check_record(record, d)
        assert check.problems == [] and check.chains == 2 and check.algorithms == ["sha256", "sha512"]
        assert len(check.stamps) == 4
        assert ers.last_algorithm(record) == "sha512"
    assert ers.check_record(records[0], data[0] + b"x").problems


def test_a_renewal_that_misses_an_earlier_time_stamp_is_caught(tsa: FakeTsa) -> None:
    data = _data(2)
    records = _records(tsa, data)
    token = tsa.stamp("sha256", ers.digest("sha256", b"something else"))
    forged = ers.with_timestamp_renewal(records[0], None, token)
    assert ers.check_record(forged, data[0]).problems == [
        "chain 1, time-stamp 2: the time-stamp does not cover the protected hash (the data object was changed)"
    ]


def test_a_token_from_another_tsa_or_for_another_use_is_refused(tsa: FakeTsa) -> None:
    [record] = _records(tsa, _data(1))
    token = ers.check_record(record, _data(1)[0]).stamps[0].token
    assert check_token(token, [FakeTsa("Other").ca]).problems == [
        "the certificate CN=Test TSA does not chain to the configured TSA CA"
    ]
    not_for_stamps = FakeTsa(usage_time_stamping=False)
    [record] = _records(not_for_stamps, _data(1))
    token = ers.check_record(record, _data(1)[0]).stamps[0].token
    assert "the signing certificate is not for time-stamping" in check_token(token, [not_for_stamps.ca]).problems
    forged = bytearray(token)
    forged[-3] ^= 0x01  # inside the signature
    assert check_token(bytes(forged), [not_for_stamps.ca]).problems[0] == "the time-stamp's signature is invalid"


def test_unreadable_records_and_unknown_algorithms_are_reported() -> None:
    assert ers.check_record(b"not a record", b"data").problems[0].startswith("the evidence record cannot be read")
    with pytest.raises(ers.UnknownAlgorithm):
        ers.digest("md5", b"data")
