"""Configuration (pure: no database)."""
from __future__ import annotations

import json
from pathlib import Path

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


# -- typed keys -----------------------------------------------------------------------------
@pytest.mark.parametrize("key, value", [
    ("database.port", "not_an_integer"), ("database.port", 3.5), ("database.port", 70000),
    ("database.host", 5), ("database.user", ["root"]), ("database.password", 1234),
    ("safemode", "maybe"), ("safemode", 2), ("database.reconnect", "sometimes"),
    ("loglevel", "LOUD"), ("fetch_format", "table"), ("display.limit", "many"),
    ("populate.group_commit", -1), ("populate.group_commit", "soon"),
    ("database.use_tls", "yes please"), ("download_path", 42), ("blob.compression", "zip"),
    ("cache_size_limit", "big"),
])
def test_wrong_type_raises_at_assignment_naming_the_key(key, value):
    cfg = Config()
    before = cfg[key]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        cfg[key] = value
    assert isinstance(info.value, ValueError)  # as DataJoint's validation error
    assert cfg[key] == before  # nothing changed


def test_typed_values_are_converted():
    cfg = Config()
    cfg.database.port = "3307"
    cfg["safemode"] = "false"
    cfg["loglevel"] = "debug"
    cfg["populate.group_commit"] = "0.5"
    cfg["download_path"] = Path("/data")
    cfg["database.use_tls"] = {"ca": "/ca.pem"}
    assert (cfg["database.port"], cfg["safemode"], cfg["loglevel"]) == (3307, False, "DEBUG")
    assert cfg["populate.group_commit"] == 0.5 and cfg["download_path"] == Path("/data")
    assert cfg["database.use_tls"] == {"ca": "/ca.pem"}


def test_delete_resets_to_default():
    cfg = Config()
    cfg["display.limit"] = 3
    del cfg["display.limit"]
    assert cfg["display.limit"] == 12
    layer = cfg.child()
    layer["display.limit"] = 4
    cfg["display.limit"] = 6
    del layer["display.limit"]
    assert layer["display.limit"] == 6  # a layer forgets its own value


def test_repr_names_every_key():
    text = repr(Config({"database.host": "h", "database.password": "pw-123"}))
    assert "database.host='h'" in text and "database.password='***'" in text
    assert "pw-123" not in text and "user=None" in text


# -- save_template ----------------------------------------------------------------------------
def test_save_template_minimal_and_full(tmp_path):
    path = Config.save_template(tmp_path / "datajoint.json", create_secrets_dir=False)
    assert path == (tmp_path / "datajoint.json").absolute()
    assert json.loads(path.read_text()) == {"database": {"host": "localhost", "port": 3306}}
    assert not (tmp_path / ".secrets").exists()
    full = dj.config.save_template(tmp_path / "full.json", minimal=False,
                                   create_secrets_dir=False)
    content = json.loads(full.read_text())
    assert {"database", "connection", "display", "stores", "loglevel", "safemode"} <= set(content)
    assert "password" not in content["database"] and "user" not in content["database"]
    cfg = Config()
    cfg.load(full)  # what it writes, joinflow reads back
    assert cfg["stores.default"] == "main" and cfg["display.limit"] == 12
    with pytest.raises(FileExistsError, match="already exists"):
        Config.save_template(full)


def test_save_template_secrets_folder(tmp_path):
    secrets = tmp_path / ".secrets"
    secrets.mkdir()
    (secrets / "database.password").write_text("kept")
    Config.save_template(tmp_path / "datajoint.json")
    assert (secrets / "database.password").read_text() == "kept"  # never overwritten
    assert (secrets / "database.user").read_text() == "your_username"
    assert "*" in (secrets / ".gitignore").read_text().splitlines()


# -- stores -------------------------------------------------------------------------------------
def test_get_store_spec(tmp_path):
    cfg = Config()
    with pytest.raises(ConfigError, match="stores.default is not configured"):
        cfg.get_store_spec()
    cfg["stores"] = {"default": "main", "filepath_default": "raw",
                     "main": {"protocol": "file", "location": str(tmp_path)},
                     "raw": {"protocol": "file", "location": str(tmp_path / "raw"),
                             "hash_prefix": "h"},
                     "cloud": {"protocol": "s3", "endpoint": "127.0.0.1:9000", "bucket": "b",
                               "location": "x", "access_key": "a", "secret_key": "s"}}
    spec = cfg.get_store_spec()
    assert spec["location"] == str(tmp_path) and spec["protocol"] == "file"
    assert (spec["hash_prefix"], spec["schema_prefix"], spec["token_length"]) == (
        "_hash", "_schema", 8)
    assert cfg.get_store_spec(use_filepath_default=True)["hash_prefix"] == "h"
    assert cfg.get_store_spec("cloud")["secure"] is True
    with pytest.raises(ConfigError, match="nowhere"):
        cfg.get_store_spec("nowhere")
    cfg["stores.bad"] = {"protocol": "file"}
    with pytest.raises(ConfigError, match="bad.*location"):
        cfg.get_store_spec("bad")


# -- secrets and environment ----------------------------------------------------------------------
def test_secrets_fill_only_unset_values(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "datajoint.json").write_text(json.dumps(
        {"database.user": "from-file", "stores": {"main": {"protocol": "s3",
                                                           "access_key": "file-key"}}}))
    secrets = tmp_path / ".secrets"
    secrets.mkdir()
    for name, value in {"database.user": "secret-user", "database.password": "secret-pw",
                        "stores.main.access_key": "secret-key",
                        "stores.main.secret_key": "secret-sk", ".gitignore": "*"}.items():
        (secrets / name).write_text(value + "\n")
    cfg = Config()
    cfg.load_default_files(tmp_path)
    assert cfg["database.user"] == "from-file"            # the file wins over a secret
    assert cfg["database.password"] == "secret-pw"        # a secret fills what is unset
    assert cfg["stores.main.access_key"] == "file-key"
    assert cfg["stores.main.secret_key"] == "secret-sk"
    assert "secret-pw" not in repr(cfg) and "secret-sk" not in repr(cfg)


def test_environment_wins_over_files_and_ignore_flag(tmp_path, monkeypatch):
    from joinflow.settings import make_default_config
    (tmp_path / ".git").mkdir()
    (tmp_path / "datajoint.json").write_text(json.dumps({"database": {"host": "file-host",
                                                                      "user": "file-user"}}))
    for var in ("DJ_HOST", "DJ_USER", "JF_HOST", "JF_USER", "DJ_IGNORE_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DJ_HOST", "env-host")
    cfg = make_default_config()
    assert (cfg["database.host"], cfg["database.user"]) == ("env-host", "file-user")
    cfg.load(tmp_path / "datajoint.json")  # a later load keeps what the environment set
    assert cfg["database.host"] == "env-host"
    monkeypatch.setenv("DJ_IGNORE_CONFIG_FILE", "true")
    monkeypatch.setenv("DJ_DATABASE_NAME", "labdb")
    monkeypatch.setenv("DJ_SAFEMODE", "false")
    cfg = make_default_config()
    assert (cfg["database.user"], cfg["database.name"], cfg["safemode"]) == (None, "labdb", False)


# -- thread-safe mode ------------------------------------------------------------------------------
@pytest.mark.parametrize("value, on", [("true", True), ("TRUE", True), ("1", True), ("yes", True),
                                       ("false", False), ("0", False), ("", False)])
def test_thread_safe_mode_switch(value, on, monkeypatch):
    from joinflow.instance import _load_thread_safe
    from joinflow.settings import thread_safe_mode
    monkeypatch.setenv("DJ_THREAD_SAFE", value)
    assert thread_safe_mode() is on and _load_thread_safe() is on
    if on:
        with pytest.raises(dj.ThreadSafetyError, match="DJ_THREAD_SAFE"):
            dj.config.get("safemode")
    else:
        assert dj.config.get("safemode") is False
    cfg = Config()  # only the global configuration is refused
    cfg["safemode"] = True
    assert cfg.child()["safemode"] is True


# -- review: secrets in reprs, errors and saved files ----------------------------------------------
def test_wrong_type_password_is_not_shown_in_the_error():
    with pytest.raises(ConfigError, match="database.password") as info:
        Config()["database.password"] = 918273645
    assert "918273645" not in str(info.value)


def test_azure_and_option_secrets_hidden_and_not_saved(tmp_path):
    cfg = Config()
    cfg["stores"] = {
        "az": {"protocol": "azure", "container": "c", "account_name": "lab",
               "account_key": "AZ-KEY-1", "connection_string": "AccountKey=AZ-CONN-2"},
        "s3": {"protocol": "s3", "bucket": "b", "token_length": 12,
               "storage_options": {"key": "OPT-KEY-3", "secret": "OPT-SECRET-4",
                                   "client_kwargs": {"region_name": "eu"}}}}
    cfg.save(tmp_path / "saved.json")
    saved = (tmp_path / "saved.json").read_text()
    for text in (repr(cfg), saved):
        for secret in ("AZ-KEY-1", "AZ-CONN-2", "OPT-KEY-3", "OPT-SECRET-4"):
            assert secret not in text
    assert "account_name='lab'" not in repr(cfg) or "lab" in repr(cfg)
    stores = json.loads(saved)["stores"]
    assert stores["s3"]["token_length"] == 12  # not a secret: kept
    assert stores["s3"]["storage_options"]["client_kwargs"] == {"region_name": "eu"}
    assert "'token_length': 12" in repr(cfg)


def test_thread_safe_mode_refuses_saving_the_global_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DJ_THREAD_SAFE", "true")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dj.ThreadSafetyError):
        dj.config.save(tmp_path / "global.json")
    with pytest.raises(dj.ThreadSafetyError):
        dj.config.save_local()
    assert list(tmp_path.iterdir()) == []


def test_integer_keys_take_integral_floats_and_numpy_integers():
    import numpy as np
    cfg = Config()
    cfg["database.port"] = 3306.0  # DataJoint 2.3.5 accepts it
    cfg["cache_size_limit"] = np.int64(1000)
    assert (cfg["database.port"], cfg["cache_size_limit"]) == (3306, 1000)
    assert type(cfg["database.port"]) is int and type(cfg["cache_size_limit"]) is int
    with pytest.raises(ConfigError, match="database.port"):
        cfg["database.port"] = 3306.5
