"""What a person sees: rich bars on a real terminal (a pty), NO_COLOR, plain lines in a pipe, --quiet."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REAL_SAMPLES, REPO_ROOT

SOURCE = REAL_SAMPLES / "naming-2022"
TOTAL_ROWS = 26  # the rows of every file in naming-2022 (see test_build_real.EXPECTED_2022)
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# SGR sequences that set a foreground or background colour (bold, dim and cursor moves are not colour)
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|4[0-7]|38;5;\d+|38;2;[\d;]+)(?:;[0-9;]*)?m")
BAR = "\u2501"  # the bar glyph rich draws


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "CI") and not k.startswith("CNPJ_DUCK_")
    }
    env.update(TERM="xterm-256color", COLUMNS="160", LINES="50", **extra)
    return env


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cnpj_duck.cli",
        "--data-dir",
        str(tmp_path / "data"),
        "build",
        "--source",
        str(SOURCE),
        "--release",
        "2021-06",
        *extra,
    ]


def _on_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command with stdin, stdout and stderr on a pseudo-terminal, as a person's shell would."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO_ROOT)
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=60), out.decode("utf-8", errors="replace")


@pytest.mark.slow
def test_rich_display_on_a_terminal_draws_bars_per_file_and_an_overall_line(tmp_path):
    code, out = _on_terminal(_args(tmp_path), _env(tmp_path))
    assert code == 0, out
    assert COLOUR.search(out) and "\x1b[?25l" in out  # colours, and the cursor hidden while bars redraw
    assert re.search(BAR * 5 + r".* +\d+\.\d/\d+\.\d kB", ESCAPE.sub("", out))
    text = ESCAPE.sub("", out)
    assert "release 2021-06" in text
    # a line for each file while it is built, labelled table/zip
    for label in ("empresas/Empresas0.zip", "socios/Socios0.zip", "estabelecimentos/Estabelecimentos0.zip"):
        assert label in text
    # the overall line ends at every row and every input byte
    final = [line for line in text.splitlines() if "release 2021-06" in line and "rows" in line][-1]
    assert re.search(rf"\b{TOTAL_ROWS} rows\b", final), final
    assert re.search(r"(\d+\.\d)/\1 kB", final), final
    # then the summary table, one row per table
    assert "release 2021-06: succeeded" in text
    assert re.search(r"socios\s*│\s*succeeded\s*│\s*1\s*│\s*7\b", text)


@pytest.mark.slow
def test_no_color_keeps_the_bars_and_drops_the_colours(tmp_path):
    code, out = _on_terminal(_args(tmp_path), _env(tmp_path, NO_COLOR="1"))
    assert code == 0, out
    assert re.search(BAR * 5 + r".* +\d+\.\d/\d+\.\d kB", ESCAPE.sub("", out)) and not COLOUR.search(out)
    assert "release 2021-06: succeeded" in ESCAPE.sub("", out)


@pytest.mark.slow
def test_no_progress_prints_plain_lines_even_on_a_terminal(tmp_path):
    code, out = _on_terminal(_args(tmp_path, "--no-progress"), _env(tmp_path))
    assert code == 0, out
    assert "\x1b[?25l" not in out and not re.search(BAR * 5 + r"\S* +\S+/\S+ kB", ESCAPE.sub("", out))
    text = ESCAPE.sub("", out)
    assert re.search(r"^start build of release 2021-06, run 1 \(0\.0 MB unzipped\)\r?$", text, re.MULTILINE)
    assert re.search(r"^succeeded socios/Socios0\.zip: 7 rows in \d+\.\ds\r?$", text, re.MULTILINE)
    assert re.search(rf"^succeeded build: {TOTAL_ROWS} rows in \d+\.\ds\r?$", text, re.MULTILINE)


@pytest.mark.slow
def test_in_a_pipe_events_go_to_stderr_as_plain_lines_and_the_summary_to_stdout(tmp_path):
    done = subprocess.run(
        _args(tmp_path), capture_output=True, text=True, env=_env(tmp_path), cwd=REPO_ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert not ESCAPE.search(done.stderr) and not ESCAPE.search(done.stdout)
    assert "succeeded empresas/Empresas1.zip: 1 rows" in done.stderr
    assert "warning: 26 of the 37 release files are missing" in done.stderr
    assert "release 2021-06: succeeded" in done.stdout and "succeeded" not in done.stderr.split("\n")[-1]
    assert "empresas" in done.stdout and "Empresas1.zip" not in done.stdout


@pytest.mark.slow
def test_quiet_prints_only_the_summary_and_errors(tmp_path):
    done = subprocess.run(
        _args(tmp_path, "--quiet"), capture_output=True, text=True, env=_env(tmp_path), cwd=REPO_ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "release 2021-06: succeeded" in done.stdout
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Empresas0.zip").write_bytes(b"this is not a zip")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnpj_duck.cli",
            "--data-dir",
            str(tmp_path / "data"),
            "build",
            "--quiet",
            "--source",
            str(broken),
            "--release",
            "2021-07",
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: Empresas0.zip: not a readable zip")
    assert lines[1].startswith("error: build of 2021-07 failed: 1 table (empresas); the errors are above")
