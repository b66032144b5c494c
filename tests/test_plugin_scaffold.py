"""``qbridge plugin new``: the generated plugin installs, registers its entry point and passes the
conformance suite without an edit.

The install test builds the generated distribution with pip into a private ``--target`` folder
(no dependencies, no build isolation: nothing is downloaded) and runs the suite in a subprocess
whose ``PYTHONPATH`` holds that folder, so the entry point is found the way an installed plugin's
is, and this environment is left as it was. About 15 s.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qbridge.cli import main
from qbridge.testing.scaffold import ScaffoldError, new_plugin, plugin_files

NAME = "scaffolded_sdk"


def test_files_entry_point_and_fill_markers():
    files = plugin_files(NAME)
    assert set(files) == {
        "pyproject.toml", "README.md", "qbridge_scaffolded_sdk/__init__.py", "qbridge_scaffolded_sdk/backend.py",
        "tests/test_scaffolded_sdk_conformance.py",
    }
    pyproject = files["pyproject.toml"]
    assert 'name = "qbridge-scaffolded-sdk"' in pyproject
    assert '[project.entry-points."qbridge.backends"]\nscaffolded_sdk = "qbridge_scaffolded_sdk.backend:ScaffoldedSdkBackend"' in pyproject
    backend = files["qbridge_scaffolded_sdk/backend.py"]
    # the places to fill: target, availability, options, translation, execution, seeding, placeholder engine
    for marker in ("# FILL: the gates", "# FILL: look for your SDK", "# FILL: accept your options",
                   "# FILL: translate", "# FILL: run the rows", "seeded=True,  # FILL", "FILL: delete once"):
        assert marker in backend, marker
    assert "$" not in "".join(files.values())  # every template field was substituted
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
    assert 'TestScaffoldedSdkBackendConformance = conformance_tests("scaffolded_sdk")' in files[
        "tests/test_scaffolded_sdk_conformance.py"]


@pytest.mark.parametrize("bad", ["", "MySdk", "1sdk", "my-sdk", "my__sdk", "my.sdk", "sdk_"])
def test_bad_names_are_refused_with_the_rule(bad, tmp_path):
    with pytest.raises(ScaffoldError, match="lower case letters and digits"):
        new_plugin(bad, tmp_path)
    assert not any(tmp_path.iterdir())


def test_existing_folder_is_never_overwritten(tmp_path):
    root = new_plugin(NAME, tmp_path)
    marker = root / "qbridge_scaffolded_sdk" / "backend.py"
    marker.write_text("edited")
    with pytest.raises(ScaffoldError, match="already exists"):
        new_plugin(NAME, tmp_path)
    assert marker.read_text() == "edited"
    result = CliRunner().invoke(main, ["plugin", "new", NAME, "--path", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.output


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None,
                    reason="building the generated plugin without build isolation needs setuptools in this environment")
def test_scaffold_installs_registers_and_passes_the_suite(tmp_path):
    result = CliRunner().invoke(main, ["plugin", "new", NAME, "--path", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "qbridge-scaffolded-sdk"
    assert f"pip install -e {root}" in result.output
    site = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(root)],
        capture_output=True, text=True,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = _env(site)
    listed = subprocess.run(
        [sys.executable, "-c", "import qbridge; b = {i.name: i for i in qbridge.list_backends()}['scaffolded_sdk']; "
         "print(b.available, b.to_dict().get('distribution'))"],
        capture_output=True, text=True, env=env,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["True", "qbridge-scaffolded-sdk", "0.1.0"], listed.stdout
    # the suite from the command line, and the generated one-line test file: both green, nothing failed
    inner = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:benchmark"]
    command = subprocess.run(
        [sys.executable, "-m", "qbridge.testing.cli", "--backend", NAME, *inner],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert command.returncode == 0, command.stdout[-4000:] + command.stderr[-2000:]
    assert " passed" in command.stdout and "failed" not in command.stdout and "error" not in command.stdout
    own = subprocess.run(
        [sys.executable, "-m", "pytest", str(root / "tests"), *inner, "--rootdir", str(root)],
        capture_output=True, text=True, env=env, cwd=root,
    )
    assert own.returncode == 0, own.stdout[-4000:] + own.stderr[-2000:]
    passed = int(own.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 90, own.stdout[-500:]
