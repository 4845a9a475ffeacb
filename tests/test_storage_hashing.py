"""Content hashes and paths, checked against values DataJoint 2.3.5 and 0.14 produced."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from joinflow.errors import StoreError
from joinflow.storage import (
    content_hash,
    file_hash,
    hash_path,
    is_hash,
    legacy_attachment_uuid,
    legacy_path,
    legacy_to_hash,
    legacy_uuid,
    subfold,
)
from joinflow.storage.hashing import hash_to_digest

ATTACH = b"hello.txt\0hello attachment\n"  # DataJoint's <attach@> object for hello.txt


def test_content_hash_matches_datajoint_2() -> None:
    assert content_hash(ATTACH) == "mybwkebhejadxcfxwtwnlzlsqi"
    assert content_hash(b"hello attachment\n", prefix=b"hello.txt\0") == content_hash(ATTACH)
    h = content_hash(b"")
    assert len(h) == 26 and is_hash(h) and h == h.lower()


def test_legacy_uuid_and_2x_hash_share_the_digest() -> None:
    uid = uuid.UUID("61d825604b14525ee404b8d9acdd3645")  # 0.14's hash of np.arange(5)'s blob
    assert legacy_to_hash(uid) == "mhmckyclcrjf5zaexdm2zxjwiu"  # 2.3.5's hash of the same
    assert hash_to_digest("mhmckyclcrjf5zaexdm2zxjwiu") == uid.bytes
    assert legacy_uuid(b"hello attachment\n", "hello.txt\0").hex == \
        "660365102722403b88b7b4ecd5e57282"  # 0.14's ~external row for hello.txt


def test_file_hash_streams(tmp_path: Path) -> None:
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello attachment\n")
    assert file_hash(f, prefix=b"hello.txt\0") == "mybwkebhejadxcfxwtwnlzlsqi"
    big = tmp_path / "big"
    big.write_bytes(b"x" * (3 << 20))
    assert file_hash(big) == content_hash(b"x" * (3 << 20))
    assert legacy_attachment_uuid(f).hex == "660365102722403b88b7b4ecd5e57282"


def test_hash_paths_like_datajoint_2() -> None:
    assert hash_path("mhmckyclcrjf5zaexdm2zxjwiu", "s") == "_hash/s/mhmckyclcrjf5zaexdm2zxjwiu"
    assert hash_path("vafu7tbf7xzu3attnk5esi5niu", "s", subfolding=(2, 2)) == \
        "_hash/s/va/fu/vafu7tbf7xzu3attnk5esi5niu"
    assert hash_path("abcdefghijklmnopqrstuvwxyz", "sch", hash_prefix="blobs/",
                     subfolding=[2, 3]) == "blobs/sch/ab/cde/abcdefghijklmnopqrstuvwxyz"
    assert hash_path("abcdefghijklmnopqrstuvwxyz", "sch", hash_prefix="") == \
        "sch/abcdefghijklmnopqrstuvwxyz"
    assert subfold("abcdefg", None) == ()


@pytest.mark.parametrize("bad", ["ABCDEFGHIJKLMNOPQRSTUVWXYZ", "short", "a" * 25 + "1", 5])
def test_invalid_hashes_are_refused(bad: object) -> None:
    with pytest.raises(StoreError, match="invalid content hash"):
        hash_path(bad, "s")  # type: ignore[arg-type]


def test_legacy_paths_like_datajoint_0_14() -> None:
    uid = uuid.UUID("61d825604b14525ee404b8d9acdd3645")
    assert legacy_path(uid, "db") == "db/61/d8/61d825604b14525ee404b8d9acdd3645"
    assert legacy_path(uid, "db", attachment_name="hello.txt") == \
        "db/61/d8/61d825604b14525ee404b8d9acdd3645.hello.txt"
    assert legacy_path(uid, "db", subfolding=()) == "db/61d825604b14525ee404b8d9acdd3645"
