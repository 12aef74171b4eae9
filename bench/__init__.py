"""lambdafan's benchmarks beside their baselines (issue 12): `python -m bench`.

Kept free of heavy imports: `bench.run_one` measures imports in a fresh interpreter, so loading
this package must not load boto3 or lambdafan. The older scripts here (local_run.py,
sandbox_worker.py, ...) still run as files (`python bench/local_run.py`) and import each other
as top-level modules.
"""
