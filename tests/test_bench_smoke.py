"""`python -m bench` end to end at the tiny size (7 needs seconds of deploys: by hand only; 4
and 8 have smoke tests of their own), and the verdicts' rules."""

from __future__ import annotations

from bench.scenarios import Scenario
from tests.bench_support import run_bench_tiny


def test_bench_runs_scenarios_3_5_and_6_at_tiny_size() -> None:
    run_bench_tiny(("3", "5", "6"), timeout=60)


def test_bench_runs_the_fan_out_beside_awsrun_and_botocove_and_through_the_cli() -> None:
    cells = run_bench_tiny(("1a", "1b", "2", "2m"), timeout=150)
    # A row whose run missed a pair or got an answer from another account fails; at the tiny
    # size lambdafan is ahead of both peers already.
    assert float(cells["1a"][4].split("×")[0]) > 1.0, cells["1a"]
    assert float(cells["1b"][4].split("×")[0]) > 1.0, cells["1b"]


def test_a_scenario_without_its_module_is_todo_never_a_pass() -> None:
    from bench.__main__ import Row, render

    missing = Scenario("9", "not written yet", "anything", "bench.scenario_not_written")
    table = render([Row(missing, [], [])])
    assert "TODO" in table and "pass" not in table


def test_a_fan_out_row_fails_on_a_wrong_account_or_too_much_memory() -> None:
    from bench.__main__ import Row
    from bench.measurement import Measurement
    from bench.scenarios import SCENARIOS

    def verdict(peak_mb: float, wrong: int, lambdafan_s: float = 1.0) -> str:
        figures = {"pairs": 4, "expected_pairs": 4, "duplicates": 0, "wrong_account": wrong}
        lambdafan = [Measurement(lambdafan_s, peak_mb, figures)]
        return Row(SCENARIOS["1a"], lambdafan, [Measurement(10.0, 1.0)]).cells()[-1]

    assert verdict(120, 0) == "pass"
    assert verdict(120, 1) == "FAIL"
    assert verdict(151, 0) == "FAIL"
    assert verdict(120, 0, lambdafan_s=2.0) == "FAIL"  # 5x: under the 8x bound


def test_scenario_7_fails_on_a_mutating_call_or_a_slow_no_change_deploy() -> None:
    from bench.__main__ import Row
    from bench.measurement import Measurement
    from bench.scenarios import SCENARIOS

    def verdict(no_change_s: float, mutating_calls: int) -> str:
        lambdafan = [Measurement(no_change_s, 1.0, {"mutating_calls": mutating_calls})]
        return Row(SCENARIOS["7"], lambdafan, [Measurement(4.0, 1.0)]).cells()[-1]

    assert verdict(0.5, 0) == "pass"
    assert verdict(0.5, 1) == "FAIL"
    assert verdict(2.0, 0) == "FAIL"
