"""The dependency trap (INFRA.md): an unpinned boto3 beside s3fs makes pip fall back to s3fs
0.4.2 (2020). These fail on such an environment instead of letting the store tests limp."""
from __future__ import annotations

import re

import fsspec
import s3fs


def _calver(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def test_s3fs_is_a_current_release() -> None:
    assert _calver(s3fs.__version__) >= (2025, 3), (
        f"s3fs {s3fs.__version__} is too old: reinstall with 's3fs>=2025.3' and no boto3 pin")


def test_fsspec_matches_s3fs() -> None:
    assert _calver(fsspec.__version__)[:2] == _calver(s3fs.__version__)[:2], (
        f"fsspec {fsspec.__version__} and s3fs {s3fs.__version__} are released together; "
        "mismatched versions break the async batch calls")


def test_s3fs_is_async() -> None:
    assert getattr(s3fs.S3FileSystem, "async_impl", False)  # 0.4.x was synchronous
