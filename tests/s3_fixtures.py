"""S3-compatible servers for the storage tests (loopback only).

* ``moto_s3`` (session): moto's S3 server in a thread on a free 127.0.0.1 port, behind a small
  WSGI meter that counts requests in flight and can add latency per request (to prove batch
  calls are concurrent). One bucket per test session.
* ``ceph_s3`` (session): Ceph's RADOS gateway when ``JF_TEST_CEPH_ENDPOINT`` is set
  (``.ci/run`` starts one on 127.0.0.1:7480 with keys testkey/testsecret); skipped otherwise.

``server.store_config()`` gives a store dict with its own location prefix, so tests never see
each other's objects.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

FAST_FAIL = {"config_kwargs": {"connect_timeout": 2, "read_timeout": 20,
                               "retries": {"max_attempts": 2, "mode": "standard"}}}


class RequestMeter:
    """WSGI middleware: counts requests, tracks the peak number in flight, adds latency."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.latency = 0.0
        self.requests = 0
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def reset(self, latency: float = 0.0) -> None:
        with self._lock:
            self.latency, self.requests, self.peak = latency, 0, 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self.in_flight -= 1


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    meter: RequestMeter | None = None
    prefixes: list[str] = field(default_factory=list)

    def store_config(self, **extra: Any) -> dict[str, Any]:
        """A store dict for this server with a fresh location prefix."""
        location = f"jft-{uuid.uuid4().hex[:10]}"
        self.prefixes.append(location)
        return {"protocol": "s3", "endpoint": self.endpoint, "bucket": self.bucket,
                "location": location, "access_key": self.access_key,
                "secret_key": self.secret_key, "secure": False,
                "storage_options": FAST_FAIL, **extra}

    def filesystem(self) -> Any:
        import s3fs
        return s3fs.S3FileSystem(key=self.access_key, secret=self.secret_key,
                                 client_kwargs={"endpoint_url": f"http://{self.endpoint}"},
                                 skip_instance_cache=True, use_listings_cache=False,
                                 **FAST_FAIL)


def _serve_moto() -> tuple[Any, RequestMeter]:
    from moto.server import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    meter = RequestMeter(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, meter, threaded=True,
                         request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="moto-s3").start()
    return server, meter


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3Server]:
    """moto's S3 on a free loopback port, for the whole session, with one bucket."""
    server, meter = _serve_moto()
    s3 = S3Server(endpoint=f"127.0.0.1:{server.server_port}", access_key="testing",
                  secret_key="testing-secret", bucket=f"jft-{uuid.uuid4().hex[:12]}",
                  meter=meter)
    s3.filesystem().mkdir(s3.bucket)
    yield s3
    server.shutdown()


@pytest.fixture(scope="session")
def ceph_s3() -> Iterator[S3Server]:
    """Ceph's RADOS gateway named by ``JF_TEST_CEPH_ENDPOINT`` (else the test is skipped)."""
    endpoint = os.environ.get("JF_TEST_CEPH_ENDPOINT")
    if not endpoint:
        pytest.skip("Ceph integration test: set JF_TEST_CEPH_ENDPOINT=127.0.0.1:7480 "
                    "(.ci/run starts a Ceph RADOS gateway)")
    s3 = S3Server(endpoint=endpoint, access_key=os.environ.get("JF_TEST_CEPH_KEY", "testkey"),
                  secret_key=os.environ.get("JF_TEST_CEPH_SECRET", "testsecret"),
                  bucket=f"jft-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    fs = s3.filesystem()
    fs.mkdir(s3.bucket)
    yield s3
    fs.rm(s3.bucket, recursive=True)
