"""Scenario 6: importing the Worker's handler module (`lambda_src.handlers`, what a cold Lambda
loads) vs `import boto3`, each in a fresh interpreter (`bench.run_one`'s own process)."""

from __future__ import annotations

import importlib
import time

from bench.measurement import Measurement


def _timed_import(module: str) -> Measurement:
    began = time.perf_counter()
    importlib.import_module(module)
    return Measurement(wall_s=time.perf_counter() - began, figures={"module": module})


def lambdafan(size: str) -> Measurement:
    return _timed_import("lambda_src.handlers")


def baseline(size: str) -> Measurement:
    return _timed_import("boto3")
