"""A deploy cut off after any number of AWS calls converges on the next deploy: the CLI in this
process against moto's server, with the connection "lost" at the N-th mutating call."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from botocore.exceptions import EndpointConnectionError

from lambdafan.aws import Aws
from tests.conftest import cli, deployable_config

READS = ("Describe", "Get", "List")
# The mutating calls of a fresh deploy of `config()`: table 2 (create, TTL), queue 1, log
# groups 3×2 (create, retention), roles 3×2 (create, inline policy), functions 3×2 (create,
# async config) + 1 (the Worker's concurrency), schedule 3 (rule, target, permission).
FRESH_DEPLOY_CALLS = 25

Loss = Literal["request", "response"]


class CutOff:
    """Loses the connection at the `at`-th mutating call of the deploy's session.

    `request`: the call never reaches AWS. `response`: AWS makes the change, the answer is lost.
    Raised from botocore's before-call / after-call events, outside its retry loop, so the
    deploy sees the error at once, as after retries ran out.
    """

    def __init__(self, at: int, loss: Loss, endpoint: str) -> None:
        self.at = at
        self.loss = loss
        self.endpoint = endpoint
        self.calls: list[str] = []
        self.armed = True

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Hook every session the CLI opens (the deploy's clients all come from it)."""
        connect = Aws.connect.__func__  # type: ignore[attr-defined]

        def hooked(cls: type[Aws], *args: Any, **kwargs: Any) -> Aws:
            aws: Aws = connect(cls, *args, **kwargs)
            event = "before-call" if self.loss == "request" else "after-call"
            aws.session.events.register(event, self._on_call)
            return aws

        monkeypatch.setattr(Aws, "connect", classmethod(hooked))

    def _on_call(self, model: Any, **_: Any) -> None:
        if not self.armed or model.name.startswith(READS):
            return
        self.calls.append(model.name)
        if len(self.calls) == self.at:
            self.armed = False
            raise EndpointConnectionError(endpoint_url=self.endpoint)


def config(folder: Path) -> Path:
    # A reserved concurrency, so its call is among those cut off too.
    return deployable_config(folder, "cut", functions={"worker": {"reserved_concurrency": 2}})


def test_a_fresh_deploy_makes_the_calls_the_cut_offs_cover(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    never = CutOff(at=0, loss="request", endpoint=server)
    never.install(monkeypatch)
    done = cli("deploy", "-c", str(config(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert len(never.calls) == FRESH_DEPLOY_CALLS, never.calls


# A request lost at call N leaves AWS as a response lost at call N-1 does, so losing responses
# covers both; it is the harder kind (a resource half made: a role without its policy, a
# function without its async config). Every third call (~4 s a case), and one lost request.
# Cuts early (the table's TTL), in the middle (a role's inline policy) and at the very end (the
# schedule's permission), plus a request lost before the first change.
CUTS = [(at, "response") for at in (2, 13, 25)] + [(1, "request")]


@pytest.mark.parametrize(("at", "loss"), CUTS)
def test_interrupted_deploy_converges_on_the_next(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: int, loss: Loss
) -> None:
    path = config(tmp_path)
    cut = CutOff(at, loss, endpoint=server)
    cut.install(monkeypatch)

    interrupted = cli("deploy", "-c", str(path))
    assert not cut.armed, "the cut-off fired"
    assert interrupted.returncode == 1
    # The progress bar's last frame, then one line saying where it stopped and what to do.
    assert "Traceback" not in interrupted.stderr
    errors = [line for line in interrupted.stderr.splitlines() if line.startswith("error")]
    assert errors == [interrupted.stderr.strip().splitlines()[-1]], interrupted.stderr
    assert errors[0].startswith("error: deploy stopped at ") and "Could not connect" in errors[0]
    assert errors[0].endswith(f"(run `lambdafan -c {path.resolve()} deploy` again to finish)")

    resumed = cli("deploy", "-c", str(path))
    assert resumed.returncode == 0, resumed.stderr

    again = cli("deploy", "-c", str(path))
    assert again.returncode == 0, again.stderr
    assert "No changes: the fleet is up to date." in again.stdout
    status = cli("status", "-c", str(path))
    assert status.returncode == 0, status.stdout + status.stderr
    assert "ok: fleet cut is deployed and matches its config." in status.stdout
