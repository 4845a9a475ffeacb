"""Store configuration: validation messages, secrets, defaults, settings integration, env."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from joinflow.errors import ConfigError
from joinflow.settings import Config
from joinflow.storage import Stores, StoreSpec, validate_stores
from joinflow.storage.spec import stores_from_environment

S3 = {"protocol": "s3", "endpoint": "s3.example.org", "bucket": "lab", "location": "p",
      "access_key": "AKIDVISIBLE", "secret_key": "TOPSECRETVALUE"}


def spec(raw: dict, name: str = "main") -> StoreSpec:
    return StoreSpec.from_dict(name, raw)


# -- defaults and derived values ----------------------------------------------------------------
def test_defaults_follow_datajoint_2() -> None:
    s = spec({"protocol": "file", "location": "/data"})
    assert (s.hash_prefix, s.schema_prefix, s.filepath_prefix) == ("_hash", "_schema", None)
    assert (s.subfolding, s.token_length, s.partition_pattern) == (None, 8, None)
    assert s.root == "/data"


def test_every_datajoint_key_is_accepted() -> None:
    full = {**S3, "secure": True, "subfolding": [2, 2], "hash_prefix": "h",
            "schema_prefix": "s", "filepath_prefix": "f", "partition_pattern": "{a}",
            "token_length": 6, "stage": "/stage", "proxy_server": "http://proxy:3128",
            "storage_options": {"anon": False}}
    s = spec(full)
    assert s.subfolding == (2, 2) and s.token_length == 6 and s.stage == "/stage"
    assert s.storage_options == {"anon": False}
    spec({"protocol": "gcs", "bucket": "b", "location": "l", "token": "anon", "project": "p"})
    spec({"protocol": "azure", "container": "c", "location": "l", "account_name": "a",
          "account_key": "k", "connection_string": "cs"})


@pytest.mark.parametrize("endpoint, secure, url", [
    ("s3.example.org", None, "https://s3.example.org"),
    ("localhost:9000", None, "http://localhost:9000"),      # seed 001 as written
    ("127.0.0.1:7480", None, "http://127.0.0.1:7480"),
    ("[::1]:9000", None, "http://[::1]:9000"),
    ("localhost:9000", True, "https://localhost:9000"),
    ("s3.example.org", False, "http://s3.example.org"),
    ("http://minio:9000", True, "http://minio:9000"),        # a scheme in the endpoint wins
])
def test_endpoint_url(endpoint: str, secure: bool | None, url: str) -> None:
    raw = {**S3, "endpoint": endpoint, **({} if secure is None else {"secure": secure})}
    assert spec(raw).endpoint_url == url


def test_s3_without_endpoint_or_keys_means_aws_with_ambient_credentials() -> None:
    s = spec({"protocol": "s3", "bucket": "b"})
    assert s.endpoint_url is None and s.access_key is None and s.root == "b"


@pytest.mark.parametrize("raw, root", [
    ({"protocol": "s3", "bucket": "b", "location": "/x/y/"}, "b/x/y"),
    ({"protocol": "s3", "bucket": "b", "location": ""}, "b"),
    ({"protocol": "memory", "location": "m"}, "/m"),
    ({"protocol": "gs", "bucket": "b", "location": "l"}, "b/l"),
    ({"protocol": "azure", "container": "c", "location": "l"}, "c/l"),
])
def test_roots(raw: dict, root: str) -> None:
    assert spec(raw).root == root


def test_protocol_aliases() -> None:
    assert spec({"protocol": "GS", "bucket": "b"}).protocol == "gcs"
    assert spec({"protocol": "azure", "container": "c"}).fsspec_protocol == "abfs"


def test_other_fsspec_protocols_are_accepted() -> None:
    s = spec({"protocol": "zip", "location": "x", "storage_options": {"fo": "a.zip"}})
    assert s.protocol == "zip" and s.storage_options == {"fo": "a.zip"}


# -- errors name the store and the key ----------------------------------------------------------
@pytest.mark.parametrize("raw, message", [
    ({"protocol": "file", "loaction": "/x"},
     r"stores\['main'\]: unknown key 'loaction' \(did you mean 'location'\?\)"),
    ({"protocol": "s3", "bucket": "b", "secret_kye": "x"}, r"'secret_kye'.*'secret_key'"),
    ({"protocol": "fiel", "location": "/x"},
     r"stores\['main'\]: unknown protocol 'fiel' \(did you mean 'file'\?\)"),
    ({"location": "/x"}, r"stores\['main'\]: protocol is missing"),
    ({"protocol": "file"}, r"stores\['main'\]: protocol 'file' requires location"),
    ({"protocol": "s3", "endpoint": "e"}, r"protocol 's3' requires bucket"),
    ({"protocol": "azure", "location": "l"}, r"protocol 'azure' requires container"),
    ({"protocol": "file", "location": "/x", "bucket": "b"},
     r"key 'bucket' does not apply to protocol 'file'"),
    ({"protocol": "file", "location": 5}, r"location must be a string, got int"),
    ({"protocol": "s3", "bucket": "b", "secure": "maybe"}, r"secure must be true or false"),
    ({"protocol": "file", "location": "/x", "subfolding": 2}, r"subfolding must be a list"),
    ({"protocol": "file", "location": "/x", "subfolding": [2, 0]}, r"subfolding"),
    ({"protocol": "file", "location": "/x", "token_length": -1},
     r"token_length must be a positive integer"),
    ({"protocol": "file", "location": "/x", "storage_options": []},
     r"storage_options must be a dict"),
    ({"protocol": "s3", "bucket": "b", "access_key": "only-one"},
     r"set both access_key and secret_key"),
])
def test_validation_messages(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        spec(raw)


@pytest.mark.parametrize("prefixes", [
    {"hash_prefix": "data", "filepath_prefix": "data/raw"},
    {"schema_prefix": "/x/", "filepath_prefix": "x"},
    {"hash_prefix": "_schema"},                     # equal to the default schema prefix
    {"hash_prefix": "a/b", "schema_prefix": "a"},
])
def test_nested_prefixes_are_refused(prefixes: dict) -> None:
    with pytest.raises(ConfigError, match=r"stores\['main'\]: .*overlap"):
        spec({"protocol": "file", "location": "/x", **prefixes})


def test_sibling_prefixes_are_fine() -> None:
    s = spec({"protocol": "file", "location": "/x", "hash_prefix": "data/h",
              "schema_prefix": "data/s", "filepath_prefix": "data/hh"})
    assert s.filepath_prefix == "data/hh"


def test_selectors_must_name_configured_stores() -> None:
    good = {"protocol": "file", "location": "/x"}
    assert validate_stores({"default": "main", "main": good})["default"] == "main"
    with pytest.raises(ConfigError, match=r"stores\['default'\] names store 'mian'.*'main'"):
        validate_stores({"default": "mian", "main": good})
    with pytest.raises(ConfigError, match=r"filepath_default.*'raw'"):
        validate_stores({"filepath_default": "raw", "main": good})
    with pytest.raises(ConfigError, match=r"must be a dict"):
        validate_stores(["main"])
    with pytest.raises(ConfigError, match=r"stores\['main'\]: a store must be a dict"):
        validate_stores({"main": "file:///x"})


def test_validate_stores_returns_plain_values(tmp_path: Path) -> None:
    out = validate_stores({"main": {"protocol": "file", "location": tmp_path}})
    assert out == {"main": {"protocol": "file", "location": str(tmp_path)}}


# -- secrets ---------------------------------------------------------------------------------------
def test_secrets_never_in_repr_or_errors() -> None:
    s = spec({**S3, "storage_options": {"client_kwargs": {"aws_session_token": "SESSIONTOK"},
                                        "anon": False}})
    text = repr(s) + str(s)
    assert "TOPSECRETVALUE" not in text and "AKIDVISIBLE" not in text
    assert "SESSIONTOK" not in text and "'***'" in text
    for bad in ({**S3, "secure": "maybe"}, {**S3, "loaction": "x"}, {**S3, "bucket": 1}):
        with pytest.raises(ConfigError) as info:
            spec(bad)
        assert "TOPSECRETVALUE" not in str(info.value)


def test_config_repr_and_saved_files_hide_store_secrets(tmp_path: Path) -> None:
    cfg = Config()
    cfg["stores"] = {"main": S3}
    assert "TOPSECRETVALUE" not in repr(cfg) and "TOPSECRETVALUE" not in repr(cfg["stores"])
    cfg.save(tmp_path / "c.json")
    assert "TOPSECRETVALUE" not in (tmp_path / "c.json").read_text()


# -- settings integration ------------------------------------------------------------------------
def test_assignment_validates() -> None:
    cfg = Config()
    with pytest.raises(ConfigError, match=r"stores\['main'\]: unknown key 'loaction'"):
        cfg["stores"] = {"main": {"protocol": "file", "loaction": "/x"}}
    with pytest.raises(ConfigError, match=r"stores\['main'\]: unknown protocol 'nfs'"):
        cfg["stores.main.protocol"] = "nfs"
    with pytest.raises(ConfigError, match=r"stores\['main'\]: token_length"):
        cfg["stores.main.token_length"] = "eight"
    assert cfg["stores"] == {}  # a refused value leaves nothing behind


def test_stores_built_key_by_key_are_checked_for_completeness_at_use(tmp_path: Path) -> None:
    cfg = Config()
    cfg["stores.main.protocol"] = "s3"
    cfg["stores.main.endpoint"] = "127.0.0.1:9000"
    with pytest.raises(ConfigError, match="requires bucket"):
        Stores.from_config(cfg).get("main")
    cfg["stores.main.bucket"] = "b"
    cfg["stores.default"] = "main"
    assert Stores.from_config(cfg).get(None).spec.bucket == "b"


def test_config_file_with_stores_section(tmp_path: Path) -> None:
    (tmp_path / "datajoint.json").write_text(json.dumps({"stores": {
        "default": "raw", "raw": {"protocol": "file", "location": str(tmp_path / "raw")},
        "archive": {"protocol": "s3", "endpoint": "s3.amazonaws.com", "bucket": "archive",
                    "location": "project-data"}}}))
    (tmp_path / ".secrets").mkdir()
    (tmp_path / ".secrets" / "stores.archive.access_key").write_text("AK\n")
    (tmp_path / ".secrets" / "stores.archive.secret_key").write_text("SK\n")
    cfg = Config()
    cfg.load_default_files(tmp_path)
    stores = Stores.from_config(cfg)
    assert stores.spec().name == "raw"
    archive = stores.spec("archive")
    assert (archive.access_key, archive.secret_key) == ("AK", "SK")


def test_bad_config_file_names_the_file_store_and_key(tmp_path: Path) -> None:
    path = tmp_path / "joinflow.json"
    path.write_text(json.dumps({"stores": {"main": {"protocol": "file", "lcation": "/x"}}}))
    with pytest.raises(ConfigError, match=r"joinflow.json.*stores\['main'\].*'lcation'"):
        Config().load(path)


def test_stores_from_environment() -> None:
    env = {"DJ_STORES": json.dumps({"main": {"protocol": "s3", "bucket": "b"}}),
           "DJ_STORES__MAIN__SECRET_KEY": "SK", "JF_STORES__MAIN__ACCESS_KEY": "AK",
           "DJ_STORES__MAIN__SUBFOLDING": "[2, 2]", "DJ_STORES_BROKEN": "x"}
    cfg = Config()
    cfg.load_environment(env)
    s = Stores.from_config(cfg).spec("main")
    assert (s.access_key, s.secret_key, s.subfolding) == ("AK", "SK", (2, 2))


def test_environment_names_match_configured_stores_ignoring_case() -> None:
    cfg = Config()
    cfg["stores"] = {"Main": {"protocol": "s3", "bucket": "b", "access_key": "A"}}
    cfg.load_environment({"DJ_STORES__MAIN__SECRET_KEY": "S"})
    assert Stores.from_config(cfg).spec("Main").secret_key == "S"


@pytest.mark.parametrize("value, message", [("{bad json", "DJ_STORES is not valid JSON"),
                                            ("[1]", "DJ_STORES must be a JSON object")])
def test_bad_environment_json(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        stores_from_environment({"DJ_STORES": value})


def test_cache_settings() -> None:
    cfg = Config()
    cfg["cache_size_limit"] = "1000"
    assert cfg["cache_size_limit"] == 1000
    with pytest.raises(ConfigError, match="cache must be a folder path"):
        cfg["cache"] = 5


# -- resolving names -----------------------------------------------------------------------------
def test_store_resolution_errors() -> None:
    stores = Stores({"main": {"protocol": "memory"}, "raw": {"protocol": "memory"}})
    with pytest.raises(ConfigError, match=r"no default store.*'main', 'raw'"):
        stores.get(None)
    with pytest.raises(ConfigError, match=r"no default store"):
        stores.get("")
    with pytest.raises(ConfigError, match=r"store 'cold' is not configured.*'main', 'raw'"):
        stores.get("cold")
    with pytest.raises(ConfigError, match=r"filepath_default"):
        stores.get(None, filepath=True)
    assert Stores({}).names() == []
    with pytest.raises(ConfigError, match=r"\(none\)"):
        Stores({}).get("x")


def test_defaults_and_shared_store_objects() -> None:
    stores = Stores({"default": "main", "filepath_default": "raw",
                     "main": {"protocol": "memory", "location": "a"},
                     "raw": {"protocol": "memory", "location": "b"}})
    assert stores.get().name == "main" and stores.get("").name == "main"
    assert stores.get(None, filepath=True).name == "raw"
    assert stores.get("main") is stores.get("main")
    again = Stores({"main": {"protocol": "memory", "location": "a"}})
    assert again.get("main") is stores.get("main")  # same spec -> same Store
    other = Stores({"main": {"protocol": "memory", "location": "other"}})
    assert other.get("main") is not stores.get("main")


def test_spec_module_does_not_import_fsspec() -> None:
    code = ("import sys; import joinflow; from joinflow.storage import StoreSpec; "
            "StoreSpec.from_dict('m', {'protocol': 's3', 'bucket': 'b'}); "
            "print('fsspec' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("prefixes", [
    {"hash_prefix": "", "schema_prefix": ""},
    {"hash_prefix": "/", "schema_prefix": ""},
])
def test_hash_and_schema_prefix_must_differ(prefixes: dict) -> None:
    """Equal (empty) prefixes would put hash- and schema-addressed objects in one folder,
    and garbage collection would delete live hash-addressed objects as schema orphans."""
    with pytest.raises(ConfigError, match=r"stores\['main'\]: hash_prefix=.*schema_prefix="):
        spec({"protocol": "file", "location": "/x", **prefixes})
    # one empty prefix alone is allowed
    assert spec({"protocol": "file", "location": "/x", "schema_prefix": ""}).schema_prefix == ""
