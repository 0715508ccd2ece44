"""`eie build` from the command line: options, and clean failures before any tool runs."""

import pytest

from eie.cli import main


def test_help_lists_the_boards(capsys):
    with pytest.raises(SystemExit) as e:
        main(["build", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("icebreaker", "orangecrab", "ulx3s", "--bake", "--freq"):
        assert name in out


def test_unknown_board_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        main(["build", "--board", "de0", "--out", "x"])
    assert e.value.code == 2
    assert "invalid choice: 'de0'" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--freq", "-5"], "--freq must be a positive number of MHz, not -5.0"),
    (["--freq", "5"], "no iCE40 PLL setting makes 5 MHz or less"),
    (["--config", "nonesuch"], "unknown config 'nonesuch'"),
    (["--baud", "20000000"], "20000000 baud needs at least"),
])
def test_bad_options_fail_cleanly(tmp_path, capsys, args, message):
    code = main(["build", "--board", "icebreaker", "--out", str(tmp_path / "o"), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bake_needs_an_image_folder(tmp_path, capsys):
    code = main(["build", "--board", "ulx3s", "--bake", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no manifest.json" in capsys.readouterr().err
