"""Settings come from defaults < config.toml < OGM_* environment < flags."""

from pathlib import Path

import pytest

from opengeomesh.config import environment_for, load_settings
from opengeomesh.errors import InvalidInput


def test_sources_in_order(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('port = 9000\ntitle = "From file"\nmax_limit = 500\n')
    env = {"OGM_PORT": "9100", "OGM_TITLE": "From env"}
    settings = load_settings({"data_dir": tmp_path, "port": 9200}, environ=env)
    assert settings.port == 9200  # flag beats environment
    assert settings.title == "From env"  # environment beats file
    assert settings.max_limit == 500  # file beats default
    assert settings.default_limit == 100  # default


def test_data_dir_from_environment(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("port = 9300\n")
    settings = load_settings({}, environ={"OGM_DATA_DIR": str(tmp_path)})
    assert settings.data_dir == tmp_path
    assert settings.port == 9300


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings({"data_dir": tmp_path}, environ={"OGM_PORT": "many"})
    assert caught.value.field == "port"
    (tmp_path / "config.toml").write_text("colour = 'red'\n")
    with pytest.raises(InvalidInput, match="colour"):
        load_settings({"data_dir": tmp_path}, environ={})


def test_database_url_is_masked(tmp_path: Path) -> None:
    settings = load_settings(
        {"data_dir": tmp_path, "database_url": "sqlite:////srv/ogm.sqlite"}, environ={}
    )
    assert settings.sqlite_path == Path("/srv/ogm.sqlite")
    assert settings.masked()["database_url"] == "sqlite:////srv/ogm.sqlite"
    from opengeomesh.config import _mask_url

    assert _mask_url("postgresql://ogm:s3cret@db/ogm") == "postgresql://ogm:***@db/ogm"


def test_database_urls(tmp_path: Path) -> None:
    url = "postgres://ogm:secret@db:5432/ogm"
    settings = load_settings({"data_dir": tmp_path}, environ={"OGM_DATABASE_URL": url})
    assert settings.database_kind == "postgresql"
    assert settings.postgres_url == "postgresql://ogm:secret@db:5432/ogm"
    assert settings.masked()["database_url"] == "postgres://ogm:***@db:5432/ogm"
    assert load_settings({"data_dir": tmp_path}, environ={}).database_kind == "sqlite"
    with pytest.raises(InvalidInput, match="database_url"):
        load_settings({"data_dir": tmp_path, "database_url": "mysql://x/y"}, environ={})


def test_refused_file_settings(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('data_dir = "/elsewhere"\n')
    with pytest.raises(InvalidInput, match="data_dir"):
        load_settings({"data_dir": tmp_path}, environ={})
    (tmp_path / "config.toml").write_bytes(b"title = '\xff'\n")
    with pytest.raises(InvalidInput, match="TOML"):
        load_settings({"data_dir": tmp_path}, environ={})
    (tmp_path / "config.toml").unlink()
    with pytest.raises(InvalidInput) as caught:
        load_settings({"data_dir": tmp_path}, environ={"OGM_LOG_LEVEL": "bogus"})
    assert caught.value.field == "log_level"


def test_workers_setting(tmp_path: Path) -> None:
    assert load_settings({"data_dir": tmp_path}, environ={}).workers == 1
    assert load_settings({"data_dir": tmp_path}, environ={"OGM_WORKERS": "3"}).workers == 3
    with pytest.raises(InvalidInput) as caught:
        load_settings({"data_dir": tmp_path}, environ={"OGM_WORKERS": "0"})
    assert caught.value.field == "workers"


def test_flags_reach_another_process_through_the_environment(tmp_path: Path) -> None:
    """What ``serve --workers`` hands its workers: the flags as OGM_* variables, read back
    over the same file and environment, give the same settings."""
    (tmp_path / "config.toml").write_text('port = 9000\ntitle = "From file"\nworkers = 4\n')
    inherited = {"OGM_TITLE": "From env", "OGM_PORT": "9100", "OGM_THREADS": "3"}
    flags = {
        "data_dir": tmp_path,
        "database_url": None,
        "host": "0.0.0.0",
        "port": 9200,
        "public_url": "https://maps.example.org/",
        "workers": 2,
        "allow_private_peers": True,
    }
    parent = load_settings(flags, environ=inherited)
    variables = environment_for(flags)
    assert variables["OGM_ALLOW_PRIVATE_PEERS"] == "true"
    assert "OGM_DATABASE_URL" not in variables
    worker = load_settings({}, environ={**inherited, **variables})
    assert worker == parent
    assert (worker.port, worker.workers, worker.threads, worker.title) == (9200, 2, 3, "From env")
    with pytest.raises(ValueError, match="colour"):
        environment_for({"colour": "red"})
