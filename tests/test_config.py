"""Settings: file, environment and overrides, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.config import ConfigError, deployment_secret, load_config


def test_precedence_is_defaults_file_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg_file = tmp_path / "dg.toml"
    cfg_file.write_text('batch_size_rows = 500\nrisk_extraction_threshold = 0.9\ntext_storage = "store"\n')
    monkeypatch.setenv("DISTILLGUARD_BATCH_SIZE_ROWS", "700")
    config = load_config(cfg_file, text_storage="fingerprints-only")
    assert config.batch_size_rows == 700
    assert config.risk_extraction_threshold == 0.9
    assert config.text_storage == "fingerprints-only"


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size_rows"):
        load_config(batch_size_rows="many")
    with pytest.raises(ConfigError, match="text_storage"):
        load_config(text_storage="everything")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(no_such_setting=1)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")


def test_secret_is_generated_once_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(db_path=str(tmp_path / "w.duckdb"))
    first = deployment_secret(config)
    assert "generated a new hashing secret" in capsys.readouterr().err
    assert deployment_secret(config) == first
    assert (tmp_path / "w.secret").stat().st_mode & 0o077 == 0


def test_explicit_secret_wins(tmp_path: Path) -> None:
    config = load_config(db_path=str(tmp_path / "w.duckdb"), hmac_secret="abc")
    assert deployment_secret(config) == b"abc"
    assert not (tmp_path / "w.secret").exists()


def test_memory_limits_are_checked_before_any_work() -> None:
    from distillguard.config import memory_limit

    assert memory_limit(load_config(ingest_memory_limit="800MB"), "ingest_memory_limit") == "800MB"
    assert memory_limit(load_config(ingest_memory_limit=""), "ingest_memory_limit") == ""
    with pytest.raises(ConfigError, match="ingest_memory_limit must look like"):
        memory_limit(load_config(ingest_memory_limit="lots"), "ingest_memory_limit")


def test_a_retired_setting_is_ignored_with_one_warning_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An upgrade must not stop a deployment whose file still sets a setting that no longer does
    anything, and must not pretend the setting still works."""
    monkeypatch.setattr("distillguard.config._warned_retired", set())
    cfg_file = tmp_path / "dg.toml"
    cfg_file.write_text("ingest_workers = 4\nbatch_size_rows = 500\n")
    monkeypatch.setenv("DISTILLGUARD_INGEST_WORKERS", "2")
    config = load_config(cfg_file).with_overrides(ingest_workers=1)
    assert config.batch_size_rows == 500
    assert "ingest_workers" not in config.values
    err = capsys.readouterr().err
    assert err.count("setting ingest_workers is no longer used") == 1, err
