"""A built wheel works on its own: installed in a fresh virtual environment, `retention demo
--no-serve` runs from an empty folder outside the repository (issue 14's must show)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# The demo on a smaller portfolio (the setting RETENTION_DEMO_ACCOUNTS): the same steps, a
# quarter of the time.
ACCOUNTS = "1500"


def _build_wheel(out: Path, scratch: Path) -> Path:
    """The wheel of a copy of the sources, so no build/ or egg-info lands in the checkout and
    no stale build/lib of an earlier build slips into it."""
    source = scratch / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), "."],
        cwd=source,
        check=True,
    )
    (wheel,) = out.glob("keyaccount_retention-*.whl")
    return wheel


def _fresh_venv(venv: Path, wheel: Path) -> Path:
    """A new environment holding the wheel. Its dependencies come from this test's own
    environment through a .pth line, so every run does not download the whole stack again;
    the retention package itself comes only from the wheel (a .pth line adds a folder to
    sys.path after the venv's own site-packages and runs none of that folder's .pth files,
    so the checkout's editable install stays out)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "_retention_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("build"))


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    # Configs, templates, static files, migrations: what the package reads at run time.
    package = ROOT / "src"
    files = {
        path.relative_to(package).as_posix()
        for path in (package / "retention").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert files - set(zipfile.ZipFile(wheel).namelist()) == set()


def test_the_wheel_runs_the_demo_from_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = _fresh_venv(venv, wheel)
    folder = tmp_path / "empty"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env.pop("PYTHONPATH", None)
    env.update(RETENTION_DEMO_ACCOUNTS=ACCOUNTS, PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")

    where = subprocess.run(
        [str(python), "-c", "import retention; print(retention.__file__)"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), f"retention imported from {where}, not the wheel"

    demo = subprocess.run(
        [str(venv / "bin" / "retention"), "demo", "--no-serve"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    work = folder / "var"
    assert list((work / "outputs").glob("*.xlsx")) and list((work / "outputs").glob("*.csv"))
    assert list((work / "reports").glob("*.html")), demo.stdout[-3000:] + demo.stderr[-3000:]
    assert (work / "retention.db").is_file() and (folder / "mlruns" / "mlflow.db").is_file()
    assert str(ROOT) not in demo.stdout + demo.stderr  # nothing read from the checkout
