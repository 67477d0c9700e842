"""The README's promises: its config example is the real file, its test command is CI's."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_config_example_is_configs_mlp_small():
    block = re.search(r"```yaml\n(.*?)```", README, re.S)
    assert block, "README has no yaml example"
    example = yaml.safe_load(block.group(1))
    assert example == yaml.safe_load((ROOT / "configs/mlp_small.yaml").read_text())


def test_readme_test_command_is_the_one_ci_runs():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert "pytest" in commands[1].split("&&")[-1]
    ci = (ROOT / ".ci/run").read_text()
    assert "python -m pytest" in commands[1] and "\npython -m pytest\n" in ci
    assert "'.[test]'" in commands[1] and "'.[test]'" in ci


def test_readme_learn_command_sets_up_and_opens_the_tutorials():
    learn = README.split("## Learn", 1)[1].split("\n## ", 1)[0]
    (command,) = re.findall(r"```bash\n(.*?)\n```", learn, re.S)
    assert "pip install -e '.[tutorials]'" in command
    assert command.split("&&")[-1].strip().endswith("jupyter lab tutorials/")


def test_every_tutorial_notebook_is_on_the_path():
    path = (ROOT / "tutorials" / "README.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in path.splitlines()
            if re.match(r"\| \d\d \|", line)}
    for notebook in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb")):
        number = notebook.name[:2]
        assert number in rows, f"tutorials/README.md has no row for {notebook.name}"
        assert f"({notebook.name})" in rows[number], f"the row {number} does not link it"
