"""Evidence records (RFC 4998): reduced hash trees, the ASN.1 structures, and checking a record against the data
object it protects — the rules only (pure functions; no network, no store, no framework).

Conventions (those of RFC 4998 as Bouncy Castle's `org.bouncycastle.tsp.ers` reads them, so that an independent
implementation accepts our records):
- hashing a list of values concatenates them in binary ascending order; a list of one value is that value;
- the hash tree over a batch is binary, built over the leaves in ascending order, an odd last node is carried up;
- a reduced hash tree's first list holds the protected hash (with its sibling, when it has one and stands alone),
  each further list the one sibling of the node computed so far;
- time-stamp renewal: a new ArchiveTimeStamp in the last chain over the hashes of every time-stamp of that chain;
- hash-tree renewal: a new chain whose first ArchiveTimeStamp protects H(H(data) || H(DER of the earlier chains)).
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp

HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha256": lambda data: hashlib.sha256(data).digest(),
    "sha384": lambda data: hashlib.sha384(data).digest(),
    "sha512": lambda data: hashlib.sha512(data).digest(),
}
DEFAULT_ALGORITHM = "sha256"


class PartialHashtree(core.SequenceOf):
    _child_spec = core.OctetString


class ReducedHashtree(core.SequenceOf):
    _child_spec = PartialHashtree


class ArchiveTimeStamp(core.Sequence):
    _fields = [  # noqa: RUF012 (asn1crypto reads the field list from the class)
        ("digest_algorithm", algos.DigestAlgorithm, {"implicit": 0, "optional": True}),
        ("attributes", cms.CMSAttributes, {"implicit": 1, "optional": True}),
        ("reduced_hashtree", ReducedHashtree, {"implicit": 2, "optional": True}),
        ("time_stamp", cms.ContentInfo),
    ]


class ArchiveTimeStampChain(core.SequenceOf):
    _child_spec = ArchiveTimeStamp


class ArchiveTimeStampSequence(core.SequenceOf):
    _child_spec = ArchiveTimeStampChain


class DigestAlgorithms(core.SequenceOf):
    _child_spec = algos.DigestAlgorithm


class CryptoInfos(core.SequenceOf):
    _child_spec = cms.CMSAttribute


class EvidenceRecord(core.Sequence):
    _fields = [  # noqa: RUF012 (asn1crypto reads the field list from the class)
        ("version", core.Integer),
        ("digest_algorithms", DigestAlgorithms),
        ("crypto_infos", CryptoInfos, {"implicit": 0, "optional": True}),
        ("encryption_info", core.Sequence, {"implicit": 1, "optional": True}),
        ("archive_time_stamp_sequence", ArchiveTimeStampSequence),
    ]


class UnknownAlgorithm(ValueError):
    """A hash algorithm this archive does not offer (sha256, sha384, sha512)."""


def digest(algorithm: str, data: bytes) -> bytes:
    try:
        return HASHES[algorithm](data)
    except KeyError:
        raise UnknownAlgorithm(f"unknown hash algorithm {algorithm!r} (offered: {', '.join(HASHES)})") from None


def node_hash(algorithm: str, values: list[bytes]) -> bytes:
    """The hash a list of values stands for: the value itself, or the hash of all of them in ascending order."""
    if len(values) == 1:
        return values[0]
    return digest(algorithm, b"".join(sorted(values)))


def branch(algorithm: str, a: bytes, b: bytes) -> bytes:
    return node_hash(algorithm, [a, b])


@dataclass(frozen=True)
class HashTree:
    """One batch: the root to time-stamp, and per protected item (by its leaf) the reduced hash tree (None: the
    item is the root itself)."""

    algorithm: str
    root: bytes
    reduced: dict[bytes, list[list[bytes]] | None]


def build_tree(algorithm: str, groups: list[list[bytes]]) -> HashTree:
    """The hash tree over `groups` (per item the values of its first list: one data object's hash, or the hashes
    of the time-stamps a renewal covers). `reduced` is keyed by each group's leaf (`node_hash`)."""
    leaves = sorted({node_hash(algorithm, group): group for group in groups}.items())
    levels = [[leaf for leaf, _ in leaves]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [branch(algorithm, below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        levels.append(above + ([below[-1]] if len(below) % 2 else []))
    reduced = {leaf: _reduced(group, _siblings(levels, index)) for index, (leaf, group) in enumerate(leaves)}
    return HashTree(algorithm, levels[-1][0], reduced)


def _siblings(levels: list[list[bytes]], index: int) -> list[bytes]:
    siblings = []
    for level in levels[:-1]:
        partner = index ^ 1
        if partner < len(level):
            siblings.append(level[partner])
        index //= 2
    return siblings


def _reduced(group: list[bytes], siblings: list[bytes]) -> list[list[bytes]] | None:
    if not siblings:
        return [group] if len(group) > 1 else None
    if len(group) == 1:
        return [[group[0], siblings[0]], *([s] for s in siblings[1:])]
    return [group, *([s] for s in siblings)]


def recover_root(algorithm: str, reduced: list[list[bytes]]) -> bytes:
    root = node_hash(algorithm, reduced[0])
    for values in reduced[1:]:
        root = branch(algorithm, root, node_hash(algorithm, values))
    return root


# --- the ASN.1 side ---------------------------------------------------------------------------------------------


def archive_time_stamp(algorithm: str, reduced: list[list[bytes]] | None, token: bytes) -> ArchiveTimeStamp:
    fields: dict[str, object] = {
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
        "time_stamp": cms.ContentInfo.load(token),
    }
    if reduced is not None:
        fields["reduced_hashtree"] = ReducedHashtree([PartialHashtree(values) for values in reduced])
    return ArchiveTimeStamp(fields)


def new_record(algorithm: str, reduced: list[list[bytes]] | None, token: bytes) -> bytes:
    """A first evidence record: one chain of one ArchiveTimeStamp (DER)."""
    chain = ArchiveTimeStampChain([archive_time_stamp(algorithm, reduced, token)])
    return _record([chain])


def _record(chains: list[ArchiveTimeStampChain]) -> bytes:
    used = list(dict.fromkeys(_algorithm(chain[0]) for chain in chains))
    return EvidenceRecord(
        {
            "version": 1,
            "digest_algorithms": DigestAlgorithms([algos.DigestAlgorithm({"algorithm": a}) for a in used]),
            "archive_time_stamp_sequence": ArchiveTimeStampSequence(chains),
        }
    ).dump()


def _chains(record: bytes) -> list[ArchiveTimeStampChain]:
    return list(EvidenceRecord.load(record)["archive_time_stamp_sequence"])


def _algorithm(ats: ArchiveTimeStamp) -> str:
    if ats["digest_algorithm"].native is not None:
        return str(ats["digest_algorithm"]["algorithm"].native)
    return str(tst_info(ats["time_stamp"].dump())["message_imprint"]["hash_algorithm"]["algorithm"].native)


def last_algorithm(record: bytes) -> str:
    return _algorithm(_chains(record)[-1][0])


def timestamp_renewal_group(record: bytes) -> list[bytes]:
    """What a time-stamp renewal protects: the hashes of every time-stamp of the last chain (its algorithm)."""
    chain = _chains(record)[-1]
    algorithm = _algorithm(chain[0])
    return [digest(algorithm, ats["time_stamp"].dump()) for ats in chain]


def with_timestamp_renewal(record: bytes, reduced: list[list[bytes]] | None, token: bytes) -> bytes:
    chains = _chains(record)
    last = chains[-1]
    algorithm = _algorithm(last[0])
    renewed = ArchiveTimeStampChain([*last, archive_time_stamp(algorithm, reduced, token)])
    return _record([*chains[:-1], renewed])


def hashtree_renewal_hash(record: bytes, algorithm: str, data: bytes) -> bytes:
    """What a hash-tree renewal with `algorithm` protects for `data`: H(H(data) || H(DER of all chains so far))."""
    chains_der = ArchiveTimeStampSequence(_chains(record)).dump()
    return digest(algorithm, digest(algorithm, data) + digest(algorithm, chains_der))


def with_hashtree_renewal(record: bytes, algorithm: str, reduced: list[list[bytes]] | None, token: bytes) -> bytes:
    chains = _chains(record)
    return _record([*chains, ArchiveTimeStampChain([archive_time_stamp(algorithm, reduced, token)])])


# --- checking ---------------------------------------------------------------------------------------------------


def tst_info(token: bytes) -> tsp.TSTInfo:
    info: tsp.TSTInfo = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    return info


@dataclass(frozen=True)
class Stamp:
    """One time-stamp of a record: its token (to be checked by signature and certificate) and its time."""

    token: bytes
    time: datetime


@dataclass(frozen=True)
class RecordCheck:
    """The hash-tree part of checking a record: the problems found (none: every chain holds), the time-stamps
    to check by signature, and the first time-stamp's time (when the data object existed as it is)."""

    problems: list[str]
    stamps: list[Stamp]
    first_time: datetime | None
    chains: int
    algorithms: list[str]


def check_record(record: bytes, data: bytes) -> RecordCheck:
    """RFC 4998 §5.3 for `data`: every chain's first ArchiveTimeStamp protects the data (from the second chain
    on, with the earlier chains); every further one the time-stamps before it in its chain; every reduced hash
    tree leads to its time-stamp's message imprint."""
    try:
        chains = _chains(record)
        if not chains or any(len(chain) == 0 for chain in chains):
            return RecordCheck(["the evidence record holds no archive time-stamp"], [], None, 0, [])
        problems: list[str] = []
        stamps: list[Stamp] = []
        for index, chain in enumerate(chains):
            problems += _check_chain(index, chain, chains[:index], data, stamps)
        algorithms = list(dict.fromkeys(_algorithm(chain[0]) for chain in chains))
        return RecordCheck(problems, stamps, stamps[0].time if stamps else None, len(chains), algorithms)
    except (ValueError, TypeError, KeyError) as exc:
        return RecordCheck([f"the evidence record cannot be read: {exc}"], [], None, 0, [])


def _check_chain(
    index: int, chain: ArchiveTimeStampChain, earlier: list[ArchiveTimeStampChain], data: bytes, stamps: list[Stamp]
) -> list[str]:
    algorithm = _algorithm(chain[0])
    problems = []
    expected = [digest(algorithm, data)]
    if earlier:
        chains_der = ArchiveTimeStampSequence(earlier).dump()
        expected = [digest(algorithm, expected[0] + digest(algorithm, chains_der))]
    for position, ats in enumerate(chain):
        where = f"chain {index + 1}, time-stamp {position + 1}"
        if position > 0:
            expected = [digest(algorithm, previous["time_stamp"].dump()) for previous in list(chain)[:position]]
        token = ats["time_stamp"].dump()
        info = tst_info(token)
        stamps.append(Stamp(token, info["gen_time"].native))
        problems += [f"{where}: {p}" for p in _check_ats(ats, algorithm, expected, info)]
    return problems


def _check_ats(ats: ArchiveTimeStamp, algorithm: str, expected: list[bytes], info: tsp.TSTInfo) -> list[str]:
    if _algorithm(ats) != algorithm:
        return [f"hash algorithm {_algorithm(ats)} differs from the chain's {algorithm}"]
    reduced = [[bytes(v) for v in values] for values in ats["reduced_hashtree"]] if ats["reduced_hashtree"] else []
    imprint = bytes(info["message_imprint"]["hashed_message"].native)
    if not reduced:
        if expected != [imprint] and node_hash(algorithm, expected) != imprint:
            return ["the time-stamp does not cover the protected hash (the data object was changed)"]
        return []
    first = reduced[0]
    if not all(h in first for h in expected) and node_hash(algorithm, expected) != node_hash(algorithm, first):
        return ["the protected hash is not in the hash tree (the data object was changed)"]
    if recover_root(algorithm, reduced) != imprint:
        return ["the hash tree does not lead to the time-stamp's message imprint"]
    return []
