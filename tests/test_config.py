"""The config object: validation messages, derived sizes, JSON round trip, hash."""

import json

import pytest

from eie.config import EIEConfig, ConfigError, PRESETS, get_config
from eie.cli import main


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name):
    cfg = PRESETS[name]
    again = EIEConfig.from_json(cfg.to_json())
    assert again == cfg and again.hash == cfg.hash


def test_eie_preset_is_the_papers_design_point():
    cfg = PRESETS["eie"]
    assert (cfg.n_pe, cfg.queue_depth, cfg.v_bits, cfg.z_bits) == (64, 8, 4, 4)
    assert (cfg.entry_bits, cfg.entries_per_word, cfg.word_bits) == (8, 8, 64)
    assert cfg.codebook_size == 16 and cfg.max_run == 15 and cfg.act_bits == 16


def test_hash_changes_with_any_field_and_is_stable():
    cfg = PRESETS["tiny"]
    assert cfg.hash == EIEConfig(**cfg.to_dict()).hash
    assert cfg.replace(queue_depth=cfg.queue_depth + 1).hash != cfg.hash


@pytest.mark.parametrize("field,value,message", [
    ("n_pe", 0, "n_pe must be between 1 and 256, not 0"),
    ("n_pe", 257, "n_pe must be between 1 and 256, not 257"),
    ("queue_depth", 0, "queue_depth must be between 1 and 1024, not 0"),
    ("act_frac", 16, "act_frac must be between 0 and act_bits-1 (15), not 16"),
    ("acc_bits", 20, "acc_bits must be between act_bits+weight_bits (32) and 62, not 20"),
    ("spmat_depth", 0, "spmat_depth must be at least 1, not 0"),
    ("n_pe", 2.5, "n_pe must be an integer, not 2.5"),
])
def test_bad_values_are_named(field, value, message):
    with pytest.raises(ConfigError) as e:
        PRESETS["tiny"].replace(**{field: value})
    assert str(e.value) == message


def test_unknown_fields_and_bad_json_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown config field"):
        EIEConfig.from_dict({"n_pe": 4, "pes": 3})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        get_config(bad)
    with pytest.raises(ConfigError, match="unknown config 'nope'"):
        get_config("nope")


def test_degenerate_configs_are_allowed():
    cfg = PRESETS["tiny"].replace(n_pe=1, queue_depth=1, entries_per_word=1)
    assert cfg.pe_bits == 1 and cfg.word_bits == cfg.entry_bits


def test_cli_config_prints_and_fails_cleanly(capsys, tmp_path):
    assert main(["config", "--config", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == PRESETS["tiny"].to_dict()
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**PRESETS["tiny"].to_dict(), "n_pe": 0}))
    assert main(["config", "--config", str(path)]) == 2
    assert "n_pe must be between 1 and 256, not 0" in capsys.readouterr().err
