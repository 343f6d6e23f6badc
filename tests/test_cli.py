"""`mlab`, the one command: its subcommands and --version, the presets in --help (mlab's and the
workflows/ scripts'), `mlab version`, shell completion run in real bash and zsh, the pyproject
entry points, Ctrl-C during its start-up, and how models are named by what they are
(tasks.report.listing). The commands that read a study (ls, export) are tested in test_api.py
on its finished study."""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from importlib import metadata

import pandas as pd
import pytest
import yaml
from support import ROOT, skip_unless_ci, write_study

from tasks.cli.main import main as mlab
from tasks.cli.presets import presets
from tasks.core.errors import UserError
from tasks.report.listing import Selection, layers_key, range_label, the_one

MLAB = [sys.executable, "-m", "tasks.cli"]  # the console script's `main`, from this checkout
COMMANDS = ["run", "nightly", "bench", "compare", "export", "ls", "version", "completion"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*MLAB, *args], capture_output=True, text=True, timeout=timeout, env=env(), cwd=ROOT)


def test_mlab_help_names_every_command_and_version_says_what_runs():
    top = cli("--help")
    assert top.returncode == 0, top.stderr
    for name in COMMANDS:
        assert f"\n    {name} " in top.stdout or f"\n    {name}\n" in top.stdout, name
    bare = cli()
    assert bare.returncode == 2 and "COMMAND" in bare.stderr  # a command is required
    short = cli("--version")
    assert short.returncode == 0 and short.stdout.startswith(
        f"multiplication-lab {metadata.version('multiplication-lab')}"
    )
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    assert (
        (f"(commit {commit.stdout.strip()}" in short.stdout) if commit.returncode == 0 else "commit" not in short.stdout
    )
    full = cli("version")
    assert full.returncode == 0 and full.stderr == ""
    lines = full.stdout.splitlines()
    assert lines[0] == short.stdout.strip()
    assert f"Python {platform.python_version()}" in lines[1]
    assert lines[2] == f"TensorFlow {metadata.version('tensorflow')}" and lines[3] == f"Ray {metadata.version('ray')}"


@pytest.mark.parametrize(
    "command",
    [
        [*MLAB, "run", "--help"],
        [sys.executable, str(ROOT / "workflows" / "run.py"), "--help"],
        [*MLAB, "nightly", "-h"],
    ],
    ids=["mlab run", "workflows/run.py", "mlab nightly"],
)
def test_help_lists_every_shipped_preset_with_its_description(command):
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env(), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("shipped presets (--config NAME):\n")[1].splitlines()
    shipped = sorted(p.stem for p in (ROOT / "workflows" / "configs").glob("*.yaml"))
    assert [line.split()[0] for line in listed] == shipped
    for line, name in zip(listed, shipped):
        description = yaml.safe_load((ROOT / "workflows" / "configs" / f"{name}.yaml").read_text())["description"]
        assert len(line) <= 100 and " ".join(description.split()[:3]) in line, line


def test_workflow_scripts_and_mlab_share_their_parsers():
    for name in ("run", "nightly", "bench", "compare", "export"):
        script = subprocess.run(
            [sys.executable, str(ROOT / "workflows" / f"{name}.py"), "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env(),
        )
        sub = cli(name, "--help")
        assert script.returncode == sub.returncode == 0, script.stderr + sub.stderr
        options = lambda text: sorted({w.strip("[],") for w in text.split() if w.startswith(("--", "[--"))})  # noqa: E731
        assert options(script.stdout) == options(sub.stdout), name


def test_pyproject_names_the_entry_points_and_the_installed_mlab_runs():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["mlab-run"] == "workflows.run:main"  # kept
    module, function = scripts["mlab"].split(":")
    assert getattr(importlib.import_module(module), function) is mlab
    installed = shutil.which("mlab")
    if installed is None:
        skip_unless_ci("the mlab console script is not installed here (pip install -e . installs it)")
    done = subprocess.run([installed, "ls", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--train-range" in done.stdout, done.stderr


def test_mlab_runs_the_same_commands_in_process(tmp_path, capsys):
    assert mlab(["run", "--config", "smoke", "--dry-run", "--out", str(tmp_path / "o")]) == 0
    assert "dry run: nothing was written" in capsys.readouterr().out and not (tmp_path / "o").exists()
    assert mlab(["nightly", "--set", "seeds=[3]", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["seeds"] == [3]
    assert mlab(["ls", str(tmp_path / "nothing")]) == 2
    assert "holds no complete study" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        mlab(["export", str(tmp_path), "--format", "onnx"])
    assert stop.value.code == 2


# ---- completion ----------------------------------------------------------------------------
def completion_script(shell: str) -> str:
    done = cli("completion", shell)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def bash_complete(script: str, words: list[str], cwd) -> list[str]:
    """COMPREPLY of the generated _mlab for the command line `words` (the last one being typed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    code = f'{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _mlab; printf "%s\\n" "${{COMPREPLY[@]}}"'
    done = subprocess.run(["bash", "--norc", "-c", code], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return sorted(filter(None, done.stdout.splitlines()))


def test_bash_completion_of_commands_options_values_and_paths(tmp_path):
    script = completion_script("bash")
    (tmp_path / "outs").mkdir()
    (tmp_path / "my.yaml").write_text("name: x\n")
    assert bash_complete(script, ["mlab", ""], tmp_path) == sorted([*COMMANDS, "--help", "--version"])
    assert bash_complete(script, ["mlab", "co"], tmp_path) == ["compare", "completion"]
    assert bash_complete(script, ["mlab", "run", "--ten"], tmp_path) == ["--tensorboard"]
    assert bash_complete(script, ["mlab", "run", "--config", "q"], tmp_path) == ["quick"]
    assert set(bash_complete(script, ["mlab", "run", "--config", ""], tmp_path)) == {*presets(), "my.yaml", "outs"}
    assert bash_complete(script, ["mlab", "export", "o", "--format", ""], tmp_path) == ["keras", "savedmodel"]
    assert bash_complete(script, ["mlab", "ls", ""], tmp_path) == ["outs"]  # OUT: directories
    assert bash_complete(script, ["mlab", "ls", "--seed", "3", ""], tmp_path) == ["outs"]  # a value is skipped
    assert "--train-range" in bash_complete(script, ["mlab", "ls", "outs", ""], tmp_path)  # OUT given: options
    assert bash_complete(script, ["mlab", "compare", "outs", "o"], tmp_path) == ["outs"]
    assert bash_complete(script, ["mlab", "completion", ""], tmp_path) == ["bash", "zsh"]
    assert bash_complete(script, ["mlab", "run", "--set", ""], tmp_path) == []  # free text: nothing to offer
    assert "--tiny" not in bash_complete(script, ["mlab", "bench", "--"], tmp_path)  # hidden options stay hidden


ZSH_INIT = r"""
PS1='' PROMPT='' RPROMPT=''
fpath=($MLAB_FPATH $fpath)
autoload -U compinit && compinit -u -D
bindkey '^I' complete-word
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
compadd() {  # print what each completion offers (matched against the word typed), then offer it
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
    local -a __hits
    builtin compadd -A __hits "$@"
    (( $#__hits )) && print -rl -- '' ${__hits/#/CAPTURE:}
    builtin compadd "$@"
}
_capture_end() { print -r -- CAPTURE-END; exit }
comppostfuncs=(_capture_end)
print -r -- INIT-OK
"""

ZSH_TYPE_TAB = r"""
zmodload zsh/zpty
zpty z MLAB_FPATH=$1 zsh -f -i
zpty -w z "source $2"
local line
while zpty -r z line; do [[ $line == *INIT-OK* ]] && break; done
zpty -w -n z "$3"$'\t'
while zpty -r z line; do
    line=${line//$'\r'/}
    [[ $line == *CAPTURE-END* ]] && break
    [[ $line == *CAPTURE:* ]] && print -r -- ${line#*CAPTURE:}
done
zpty -d z
"""


def test_zsh_completion_in_a_real_interactive_zsh(tmp_path):
    """The script installed the documented way (a file _mlab on $fpath, compinit), then TAB
    pressed in an interactive zsh on a pseudo-terminal (zsh/zpty): what each completion offers."""
    zsh = shutil.which("zsh")
    if zsh is None:
        skip_unless_ci("zsh is not installed (.ci/run installs it)")
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_mlab").write_text(completion_script("zsh"))
    (tmp_path / "init.zsh").write_text(ZSH_INIT)
    (tmp_path / "type_tab.zsh").write_text(ZSH_TYPE_TAB)
    work = tmp_path / "work"
    (work / "outs").mkdir(parents=True)
    (work / "my.yaml").write_text("name: x\n")

    def offered(line: str) -> set[str]:
        args = [zsh, "-f", str(tmp_path / "type_tab.zsh"), str(functions), str(tmp_path / "init.zsh"), line]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=work)
        return set(filter(None, done.stdout.splitlines()))

    assert offered("mlab ") == set(COMMANDS)
    assert offered("mlab ru") == {"run"}
    assert offered("mlab run --ten") == {"--tensorboard"}
    assert offered("mlab run --config q") == {"quick"}
    assert offered("mlab run --config ") == {*presets(), "my.yaml", "outs"}
    assert offered("mlab export o --format ") == {"keras", "savedmodel"}
    assert offered("mlab ls ") == {"outs"}
    assert offered("mlab completion ") == {"bash", "zsh"}


# ---- Ctrl-C ---------------------------------------------------------------------------------
STARTING = "interrupted while starting: nothing was written"


def test_ctrl_c_while_mlab_starts_exits_130_in_one_line(tmp_path, ray_tmpdir):
    from test_own_ray import ray_processes_under

    config = write_study(tmp_path, {"seeds": [0, 1]}, "ctrlc")
    proc = subprocess.Popen(
        [*MLAB, "run", "--config", str(config), "--out", str(tmp_path / "o")],
        env={**env(), "RAY_TMPDIR": ray_tmpdir},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # importing (or, on a fast machine, starting Ray)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    (line,) = err.strip().splitlines()  # one line, no traceback
    assert line in (STARTING, "interrupted: finished work is kept; rerun the same command to resume"), line
    deadline = time.monotonic() + 20
    while ray_processes_under(ray_tmpdir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_processes_under(ray_tmpdir), "the interrupted command left Ray processes behind"


def test_a_ray_temp_dir_too_long_for_its_sockets_is_one_line_exit_2(tmp_path):
    """Ray's socket paths must fit in 107 bytes: a RAY_TMPDIR that leaves no room is the user's
    setting, said in one line, not an OSError traceback."""
    long_dir = tmp_path / ("d" * 80)
    long_dir.mkdir()
    config = write_study(tmp_path, {"seeds": [0]}, "longtmp")
    done = subprocess.run(
        [*MLAB, "run", "--config", str(config), "--out", str(tmp_path / "o")],
        env={**env(), "RAY_TMPDIR": str(long_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: cannot start a local Ray:") and "RAY_TMPDIR" in line, line


# ---- models by what they are ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "label"),
    [
        ("[0,2]", "[0,2]"),
        ("0,2", "[0,2]"),
        ("[0, 2.0]", "[0,2]"),
        ("0.5 2", "[0.5,2]"),
        ("[-6,-2]∪[2,6]", "[-6,-2]∪[2,6]"),
    ],
)
def test_a_training_range_is_read_as_the_tables_spell_it(typed, label):
    assert range_label(typed) == label


@pytest.mark.parametrize("typed", ["", "0", "[2,0]", "[0,3]∪[2,6]", "abc"])
def test_a_training_range_that_is_no_range_is_one_clear_error(typed):
    with pytest.raises(UserError, match="training range"):
        range_label(typed)


def models_table() -> pd.DataFrame:
    rows = []
    for arch, label, layers in [
        ("mlp", "mlp(hidden=8)", None),
        ("mlp", "mlp(hidden=80)", None),
        ("stack", "stack(layers=nau,nmu)", "nau,nmu"),
    ]:
        for lo, hi in [(0, 10), (0, 2)]:
            for seed in (0, 1):
                rows.append(
                    {
                        "model_id": f"m-{label}-{hi}-{seed}",
                        "arch": arch,
                        "arch_label": label,
                        "param_layers": layers,
                        "train_range": f"[{lo},{hi}]",
                        "train_lo": float(lo),
                        "train_hi": float(hi),
                        "seed": seed,
                    }
                )
    return pd.DataFrame(rows)


def test_a_selection_names_one_model_or_says_which_it_could_be():
    models = models_table()
    one = the_one(models, Selection("nau→nmu", "0,2", 1), "OUT")
    assert one["model_id"] == "m-stack(layers=nau,nmu)-2-1" and layers_key("nau -> nmu") == "nau,nmu"
    assert the_one(models, Selection("mlp(hidden=80)", "[0,10]", 0), "OUT")["arch_label"] == "mlp(hidden=80)"
    with pytest.raises(UserError) as many:
        the_one(models, Selection("mlp", None, 0), "OUT")
    message = str(many.value)
    assert message.startswith("4 models match architecture 'mlp', seed 0 in OUT") and "\n" not in message
    # candidates in order: by label, then training range numerically ([0,2] before [0,10])
    assert message.index("mlp(hidden=8) [0,2]") < message.index("mlp(hidden=8) [0,10]") < message.index("hidden=80")
    with pytest.raises(UserError) as none:
        the_one(models, Selection("nmu", None, 7), "OUT")
    assert str(none.value) == (
        "no model with architecture 'nmu', seed 7 in OUT; it holds architectures mlp(hidden=8), mlp(hidden=80), "
        "stack(layers=nau,nmu), training ranges [0,2], [0,10], seeds 0, 1"
    )
