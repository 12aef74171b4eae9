"""The settings deploy ships in fleet.json, and where the handlers find them and the scripts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lambda_src import names
from lambda_src.settings import (
    BUNDLED_SETTINGS,
    SETTINGS_FILE_ENV,
    FleetSettings,
    NotifySettings,
    ScriptRef,
    WavefrontSettings,
    load_settings,
    resolve_script_path,
)
from tests.conftest import make_settings


def test_settings_round_trip_through_json_with_every_field(tmp_path: Path) -> None:
    settings = make_settings(
        regions=None,
        external_id="x",
        ttl_days=7,
        export="s3",
        notify=NotifySettings(
            email_sender="a@x.io", email_recipients=("b@x.io",), only_on="failures"
        ),
        wavefront=WavefrontSettings(url="https://a.wavefront.com", token_parameter="/a/wf"),
    )
    path = tmp_path / "fleet.json"
    path.write_text(settings.to_json())
    assert load_settings(str(path)) == settings
    assert settings.partition == "aws"
    assert settings.to_json() == load_settings(str(path)).to_json()  # stable bytes


def test_settings_file_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "other.json"
    path.write_text(make_settings(fleet="other").to_json())
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(path))
    assert load_settings().fleet == "other"


def test_optional_fields_take_their_defaults() -> None:
    settings = FleetSettings.from_dict(
        {"fleet": "f", "home_region": "eu-west-1", "scripts": [{"name": "s", "path": "s.py"}]}
    )
    assert (settings.member_role, settings.ttl_days, settings.regions) == (
        "lambdafan-member", 30, None,
    )  # fmt: skip
    assert settings.notify == NotifySettings() and settings.accounts == ()
    assert (settings.notify.only_on, settings.wavefront) == ("always", None)
    assert settings.export == "none"
    assert (settings.table_name, settings.worker_function) == (
        names.table_name("f"), names.function_name("f", "worker"),
    )  # fmt: skip


def test_a_partition_other_than_the_home_regions_is_refused() -> None:
    with pytest.raises(ValueError, match="not that of home region"):
        dataclasses.replace(make_settings(), partition="aws-cn")


def test_relative_script_paths_are_in_the_bundle_absolute_ones_as_given() -> None:
    assert resolve_script_path(ScriptRef("s", "user_scripts/s.py")) == (
        BUNDLED_SETTINGS.parent / "user_scripts/s.py"
    )
    assert resolve_script_path(ScriptRef("s", "/abs/s.py")) == Path("/abs/s.py")


@pytest.mark.parametrize(
    ("only_on", "told"),
    [
        # (quiet, changed, failed, changed and failed)
        ("always", (True, True, True, True)),
        ("changes", (False, True, True, True)),
        ("failures", (False, False, True, True)),
    ],
)
def test_only_on_says_which_runs_are_told(only_on: str, told: tuple[bool, ...]) -> None:
    notify = NotifySettings(only_on=only_on)
    cases = [(False, False), (True, False), (False, True), (True, True)]
    assert tuple(notify.wants(changed=c, failed=f) for c, f in cases) == told
