"""A wheel built from the repo holds both packages, and an installed lambdafan can deploy."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import boto3
import yaml

from lambdafan.config import load_config
from lambdafan.deploy.bundle import build_bundle

REPO = Path(__file__).resolve().parent.parent


# Processes: what is under test is the installed wheel's `lambdafan` script, not the repo's code.
def test_wheel_installs_and_deploys(server: str, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(dist.glob("lambdafan-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "lambdafan/cli/__init__.py",
        "lambdafan/deploy/bundle.py",
        "lambda_src/handlers.py",
        "lambda_src/builtin_scripts/ec2_instances.py",
    ):
        assert required in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         str(wheel)],
        check=True,
    )  # fmt: skip
    # The dependencies (boto3, typer, ...) come from the test environment, behind the venv's own
    # site-packages, so the lambdafan that runs is the wheel's, not the repo's.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    show = "import lambdafan, lambda_src; print(lambdafan.__file__, lambda_src.__file__)"
    where = subprocess.run(
        [str(python), "-c", show], capture_output=True, text=True, check=True, cwd=tmp_path,
        env=env,
    ).stdout  # fmt: skip
    assert where.count(str(venv)) == 2, where

    lambdafan = venv / "bin" / "lambdafan"
    helped = subprocess.run([str(lambdafan), "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0 and "deploy" in helped.stdout

    config = tmp_path / "lambdafan.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "fleet": "wheel",
                "home_region": "us-east-1",
                "accounts": {"list": ["111111111111"]},
                "scripts": ["ec2_instances", "s3_buckets"],
            }
        )
    )
    deployed = subprocess.run(
        [str(lambdafan), "deploy", "-c", str(config)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    assert "Plan: 12 to create" in deployed.stdout
    worker = boto3.client("lambda", region_name="us-east-1").get_function(
        FunctionName="wheel-worker"
    )["Configuration"]
    # The installed package bundles exactly the files the repo does.
    expected = build_bundle(load_config(config).to_settings(), include_scripts=True)
    assert worker["CodeSha256"] == expected.sha256
