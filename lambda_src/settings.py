"""The fleet's settings as the handlers see them (resource names are in `lambda_src.names`).

The CLI turns the user's YAML into `FleetSettings`; deploy ships them as `fleet.json` inside the
bundle, the local executor passes them directly. Handler code hard-codes none of them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lambda_src import names

SETTINGS_FILE_ENV = "LAMBDAFAN_SETTINGS_FILE"
BUNDLED_SETTINGS = Path(__file__).resolve().parent.parent / "fleet.json"
# The config's `script_requirements`, installed by deploy into this folder of the Worker's
# bundle; only the script sandbox puts it on sys.path, so they never shadow the Worker's own code.
SCRIPT_PACKAGES_DIR = "script_packages"


@dataclass(frozen=True)
class AccountRef:
    """An account named explicitly in the config."""

    id: str
    name: str


@dataclass(frozen=True)
class ScriptRef:
    """A script to run: its name (unique in the fleet), its file (absolute or bundle-relative)
    and, in a bundle, its KEY (so the Notifier, which has no user scripts, can diff runs)."""

    name: str
    path: str
    key: tuple[str, ...] = ()


# `notify.only_on`: which runs are told. "changes": runs with records added, removed or changed
# since the previous complete run, and runs with failures; "failures": runs with failures only.
ONLY_ON = ("always", "changes", "failures")
# `results.export`: "s3" also writes each pair's records to the fleet's export bucket.
EXPORTS = ("none", "s3")


@dataclass(frozen=True)
class NotifySettings:
    """Where the Notifier sends the run summary; every channel is optional."""

    slack_webhook_parameter: str | None = None
    email_sender: str | None = None
    email_recipients: tuple[str, ...] = ()
    sns_topic_arn: str | None = None
    only_on: str = "always"  # one of ONLY_ON

    def wants(self, *, changed: bool, failed: bool) -> bool:
        """Whether a run is told under `only_on`: `changed` when its diff found anything (or
        could not be computed: better told than silently dropped), `failed` when it has
        failed accounts or errors or did not complete."""
        if self.only_on == "failures":
            return failed
        if self.only_on == "changes":
            return changed or failed
        return True


@dataclass(frozen=True)
class WavefrontSettings:
    """Run metrics also sent to Wavefront by direct ingestion; the API token is read at run
    time from an SSM SecureString, never shipped."""

    url: str  # https://<instance>.wavefront.com
    token_parameter: str  # SSM parameter name (or ARN) holding the token


@dataclass(frozen=True)
class FleetSettings:
    """Everything the Director, Worker and Notifier need to know about their fleet."""

    fleet: str
    home_region: str
    scripts: tuple[ScriptRef, ...]
    accounts: tuple[AccountRef, ...] = ()
    organization: bool = False
    organization_ous: tuple[str, ...] = ()
    exclude_accounts: tuple[str, ...] = ()
    # None means every region enabled in the account (resolved by the Worker, per account).
    regions: tuple[str, ...] | None = None
    member_role: str = "lambdafan-member"
    external_id: str | None = None
    session_duration: int = 3600
    ttl_days: int = 30
    notify: NotifySettings = field(default_factory=NotifySettings)
    # None: run metrics go to CloudWatch only.
    wavefront: WavefrontSettings | None = None
    # The Worker function's timeout: a run's deadline is derived from it (runs.run_deadline).
    worker_timeout_s: int = 900
    # A scheduled run that fires while the previous one still runs: "skip" it, or "allow" both.
    schedule_overlap: str = "skip"
    # Fixed when the settings are made (at deploy) from the home region, and shipped in
    # fleet.json: every ARN the handlers build (the member role's) is in this partition.
    partition: str = ""
    # One of EXPORTS: where records go besides the table.
    export: str = "none"

    def __post_init__(self) -> None:
        home = names.partition_for(self.home_region)
        if not self.partition:
            object.__setattr__(self, "partition", home)
        elif self.partition != home:
            # Loud, e.g. after dataclasses.replace(home_region=...) kept the old partition.
            raise ValueError(
                f"partition {self.partition!r} is not that of home region {self.home_region}"
            )

    @property
    def table_name(self) -> str:
        return names.table_name(self.fleet)

    @property
    def worker_function(self) -> str:
        return names.function_name(self.fleet, "worker")

    @property
    def notifier_function(self) -> str:
        return names.function_name(self.fleet, "notifier")

    def to_json(self) -> str:
        """Serialise for `fleet.json`; stable key order so the bundle stays reproducible."""
        return json.dumps(asdict(self), sort_keys=True, indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetSettings:
        regions = data.get("regions")
        return cls(
            fleet=data["fleet"],
            home_region=data["home_region"],
            scripts=tuple(
                ScriptRef(name=s["name"], path=s["path"], key=tuple(s.get("key", ())))
                for s in data["scripts"]
            ),
            accounts=tuple(AccountRef(**a) for a in data.get("accounts", ())),
            organization=bool(data.get("organization", False)),
            organization_ous=tuple(data.get("organization_ous", ())),
            exclude_accounts=tuple(data.get("exclude_accounts", ())),
            regions=None if regions is None else tuple(regions),
            member_role=data.get("member_role", "lambdafan-member"),
            external_id=data.get("external_id"),
            session_duration=int(data.get("session_duration", 3600)),
            ttl_days=int(data.get("ttl_days", 30)),
            notify=_notify_from_dict(data.get("notify") or {}),
            wavefront=_wavefront_from_dict(data.get("wavefront")),
            worker_timeout_s=int(data.get("worker_timeout_s", 900)),
            schedule_overlap=str(data.get("schedule_overlap", "skip")),
            partition=data.get("partition", ""),
            export=str(data.get("export", "none")),
        )


def _notify_from_dict(data: dict[str, Any]) -> NotifySettings:
    return NotifySettings(
        slack_webhook_parameter=data.get("slack_webhook_parameter"),
        email_sender=data.get("email_sender"),
        email_recipients=tuple(data.get("email_recipients", ())),
        sns_topic_arn=data.get("sns_topic_arn"),
        only_on=str(data.get("only_on", "always")),
    )


def _wavefront_from_dict(data: dict[str, Any] | None) -> WavefrontSettings | None:
    if not data:
        return None
    return WavefrontSettings(url=str(data["url"]), token_parameter=str(data["token_parameter"]))


def load_settings(path: str | None = None) -> FleetSettings:
    """Read the settings deploy put in the bundle (or the file named by LAMBDAFAN_SETTINGS_FILE)."""
    source = Path(path or os.environ.get(SETTINGS_FILE_ENV) or BUNDLED_SETTINGS)
    return FleetSettings.from_dict(json.loads(source.read_text(encoding="utf-8")))


def bundle_root() -> Path:
    """The folder the bundle was unpacked into (the repository root when run from source)."""
    return BUNDLED_SETTINGS.parent


def resolve_script_path(ref: ScriptRef) -> Path:
    """A script's file: absolute paths as given, relative ones against the bundle root."""
    path = Path(ref.path)
    return path if path.is_absolute() else bundle_root() / path
