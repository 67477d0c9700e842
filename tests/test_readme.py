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
