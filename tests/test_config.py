"""Configuration (pure: no database)."""
from __future__ import annotations

import json

import pytest

import joinflow as dj
from joinflow.errors import ConfigError
from joinflow.settings import Config


def test_dotted_nested_and_attribute_access():
    cfg = Config()
    cfg["database.host"] = "db.example.org"
    assert cfg["database.host"] == "db.example.org"
    assert cfg["database"]["host"] == "db.example.org"
    assert cfg.database.host == "db.example.org"
    cfg["database"]["user"] = "alice"
    assert cfg["database.user"] == "alice"
    cfg.database.port = "3307"
    assert cfg["database.port"] == 3307
    cfg.safemode = False
    assert cfg["safemode"] is False
    cfg["database"] = {"host": "h2", "port": 5433}
    assert (cfg["database.host"], cfg["database.port"], cfg["database.user"]) == ("h2", 5433,
                                                                               "alice")
    assert "host" in dict(cfg["database"])
    assert cfg["jobs.default_priority"] == 5 and cfg.jobs.stale_timeout == 3600


def test_unknown_keys_rejected():
    cfg = Config()
    with pytest.raises(ConfigError, match="nope"):
        cfg["nope"]
    with pytest.raises(ConfigError, match="database.hots"):
        cfg["database.hots"] = "x"
    with pytest.raises(ConfigError, match="nope"):
        cfg["nope"] = 1
    with pytest.raises(AttributeError):
        cfg.database.hots
    with pytest.raises(KeyError):  # ConfigError is a KeyError: dict-like code still works
        cfg["nope.deeper"]
    assert cfg.get("nope", 3) == 3


def test_backend_validation_and_aliases():
    cfg = Config()
    for alias, name in [("postgres", "postgresql"), ("PostgreSQL", "postgresql"),
                        ("mariadb", "mysql"), ("MySQL", "mysql"), ("sqlite3", "sqlite")]:
        cfg["database.backend"] = alias
        assert cfg["database.backend"] == name
    with pytest.raises(ConfigError, match="oracle"):
        cfg["database.backend"] = "oracle"
    assert cfg["database.backend"] == "sqlite"
    with pytest.raises(ConfigError, match="port"):
        cfg["database.port"] = "not-a-port"


def test_override_restores():
    cfg = Config()
    cfg["display.limit"] = 20
    with cfg.override(safemode=False, display={"limit": 5}, database__host="tmp") as c:
        assert c is cfg
        assert (cfg["safemode"], cfg["display.limit"], cfg["database.host"]) == (False, 5, "tmp")
        cfg["download_path"] = "/elsewhere"
    assert (cfg["safemode"], cfg["display.limit"], cfg["database.host"]) == (True, 20, None)
    assert cfg["download_path"] == "."
    with pytest.raises(RuntimeError):
        with cfg.override(safemode=False):
            raise RuntimeError
    assert cfg["safemode"] is True
    with pytest.raises(ConfigError):
        with cfg.override(nonsense=1):
            pass
    assert "nonsense" not in cfg


def test_load_json_flat_and_nested(tmp_path):
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"database.host": "flat-host", "database.port": 1234,
                                "safemode": False, "stores.main": {"protocol": "file",
                                                                   "location": "/data"}}))
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"database": {"host": "nested-host", "user": "bob"},
                                  "display": {"limit": 3},
                                  "jobs": {"keep_completed": True},
                                  "stores": {"default": "main",
                                             "main": {"protocol": "s3", "secret_key": "k"}}}))
    cfg = Config()
    cfg.load(flat)
    assert (cfg["database.host"], cfg["database.port"], cfg["safemode"]) == ("flat-host", 1234,
                                                                            False)
    assert cfg["stores"]["main"]["location"] == "/data"
    assert cfg["stores.main.protocol"] == "file"
    cfg.load(nested)
    assert (cfg["database.host"], cfg["database.user"], cfg["database.port"]) == (
        "nested-host", "bob", 1234)
    assert cfg["display.limit"] == 3 and cfg["jobs.keep_completed"] is True
    assert cfg["stores.default"] == "main" and cfg["stores"]["main"]["protocol"] == "s3"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"database": {"colour": "red"}}))
    with pytest.raises(ConfigError, match="colour"):
        cfg.load(bad)


def test_default_file_search_upward(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "datajoint.json").write_text(json.dumps({"database.host": "found"}))
    (tmp_path / ".secrets").mkdir()
    (tmp_path / ".secrets" / "database.password").write_text("from-secret\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = Config()
    assert cfg.load_default_files(sub) == tmp_path / "datajoint.json"
    assert cfg["database.host"] == "found"
    assert cfg["database.password"] == "from-secret"
    # unknown keys in a found file are skipped with a warning (import must not fail)
    (tmp_path / "datajoint.json").write_text(json.dumps({"database.host": "again",
                                                         "external.location": "/x"}))
    cfg3 = Config()
    with pytest.warns(UserWarning, match="external.location"):
        cfg3.load_default_files(sub)
    assert cfg3["database.host"] == "again"
    # a repository root stops the search
    inner = tmp_path / "repo"
    (inner / ".git").mkdir(parents=True)
    cfg2 = Config()
    found = cfg2.load_default_files(inner)
    assert found is None or found.parent != tmp_path


def test_environment_variables():
    cfg = Config()
    cfg.load_environment({"DJ_HOST": "dj-host", "DJ_USER": "u", "DJ_PASS": "pw",
                          "DJ_PORT": "3310", "DJ_BACKEND": "postgres",
                          "DJ_JOBS_KEEP_COMPLETED": "true", "DJ_JOBS_STALE_TIMEOUT": "60",
                          "DJ_LOG_LEVEL": "DEBUG", "UNRELATED": "x", "DJ_JOBS_BOGUS": "1"})
    assert (cfg["database.host"], cfg["database.user"], cfg["database.password"]) == (
        "dj-host", "u", "pw")
    assert cfg["database.port"] == 3310 and cfg["database.backend"] == "postgresql"
    assert cfg["jobs.keep_completed"] is True and cfg["jobs.stale_timeout"] == 60
    assert cfg["loglevel"] == "DEBUG"
    cfg2 = Config()
    cfg2.load_environment({"JF_HOST": "jf-host", "JF_BACKEND": "mariadb", "JF_PASSWORD": "p2",
                           "JF_DATABASE_PATH": "/tmp/x.db", "DJ_HOST": ""})
    assert (cfg2["database.host"], cfg2["database.backend"], cfg2["database.password"],
            cfg2["database.path"]) == ("jf-host", "mysql", "p2", "/tmp/x.db")
    with pytest.raises(ConfigError):
        Config().load_environment({"DJ_BACKEND": "oracle"})


def test_repr_hides_secrets():
    cfg = Config()
    cfg["database.password"] = "hunter2-secret"
    cfg["stores"] = {"main": {"protocol": "s3", "access_key": "AKIA", "secret_key": "sk-xyz"}}
    cfg["stores.other.secret_key"] = "sk-other"
    for text in (repr(cfg), str(cfg), repr(cfg["database"]), str(cfg["database"])):
        assert "hunter2-secret" not in text and "sk-xyz" not in text and "sk-other" not in text
    assert "***" in repr(cfg) and "database.host" in repr(cfg)
    assert "AKIA" in repr(cfg)  # only secrets are hidden
    # the values themselves are still available to code
    assert cfg["database.password"] == "hunter2-secret"
    assert cfg["stores"]["main"]["secret_key"] == "sk-xyz"


def test_connection_layer_over_config(tmp_path):
    base = Config({"database.backend": "sqlite", "database.path": str(tmp_path / "y.db")})
    conn = dj.Connection(config=base, password="pw-local")
    try:
        assert base["database.password"] is None  # connection arguments stay local
        base["safemode"] = False
        assert conn.config["safemode"] is False  # later config changes reach the connection
        assert "pw-local" not in repr(conn.config)
    finally:
        conn.close()
