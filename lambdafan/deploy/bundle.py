"""The code bundle: a byte-for-byte reproducible zip of `lambda_src`, `fleet.json`, the scripts
and their packages.

Deploy compares the bundle's base64 sha256 with the function's `CodeSha256` and skips the upload
when they match (as Cloud Custodian's `PythonPackageArchive` does). That only works if building
the same inputs twice gives the same bytes, so nothing that varies between machines or checkouts
(mtimes, permissions, umask, directory listing order, the OS building it) may reach the zip.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import lambda_src
from lambda_src.scripts import describe_script
from lambda_src.settings import SCRIPT_PACKAGES_DIR, FleetSettings

PACKAGE_DIR = Path(lambda_src.__file__).resolve().parent
BUILTIN_DIR = PACKAGE_DIR / "builtin_scripts"
SETTINGS_NAME = "fleet.json"  # what lambda_src.settings.BUNDLED_SETTINGS reads, at the zip root
USER_SCRIPTS = "user_scripts"
# Zip timestamps are local-time fields with no epoch; 1980-01-01 is the earliest they can hold.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# A regular file (S_IFREG) readable by everyone: Lambda's runtime user is not the file's owner.
FILE_MODE = 0o100644 << 16
UNIX = 3  # create_system: otherwise zipfile writes 0 on Windows and 3 elsewhere
COMPRESS_LEVEL = 9  # fixed: the compressed bytes depend on the level


@dataclass(frozen=True)
class Bundle:
    """A built zip and what deploy needs to know about it."""

    data: bytes
    sha256: str  # base64 of sha256(data): what Lambda reports as CodeSha256
    files: tuple[str, ...]  # archive names, sorted


def build_bundle(
    settings: FleetSettings,
    *,
    include_scripts: bool,
    script_packages: Mapping[str, bytes] | None = None,
) -> Bundle:
    """Zip `lambda_src` and the settings; the Worker's bundle (`include_scripts`) adds scripts.

    Every script is checked first, so a broken one raises `ScriptError` (naming its file and
    line) before anything is built. Only the Worker's bundle holds the scripts, the files of
    their requirements (`script_packages`, by site-packages path, from `vendor_requirements`;
    this function never runs pip) and the member role's external id: the Director and Notifier
    need none of them. Their `fleet.json` otherwise matches the Worker's and names the scripts by
    bundle-relative paths, so a script edit changes only the Worker's bundle while a settings
    change reaches all three.
    """
    if script_packages and not include_scripts:
        raise ValueError("script packages go in the Worker's bundle only")
    # Every script checked before anything is built; its KEY goes in the settings.
    keys = {ref.name: describe_script(Path(ref.path), ref.name).key for ref in settings.scripts}

    entries: dict[str, bytes] = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        relative = path.relative_to(PACKAGE_DIR)
        if "__pycache__" not in relative.parts and path.is_file():
            entries[f"{PACKAGE_DIR.name}/{relative.as_posix()}"] = path.read_bytes()

    refs = []
    for ref in settings.scripts:
        source = Path(ref.path).resolve()
        if source.is_relative_to(BUILTIN_DIR):
            # Already in the zip as part of the package.
            name = f"{PACKAGE_DIR.name}/{source.relative_to(PACKAGE_DIR).as_posix()}"
        else:
            # Script names are unique in a fleet, so these names cannot collide.
            name = f"{USER_SCRIPTS}/{ref.name}.py"
            if include_scripts:
                entries[name] = source.read_bytes()
        refs.append(dataclasses.replace(ref, path=name, key=tuple(keys[ref.name])))
    for name, data in (script_packages or {}).items():
        entries[f"{SCRIPT_PACKAGES_DIR}/{name}"] = data
    # The external id guards the member roles; only the Worker assumes them.
    external_id = settings.external_id if include_scripts else None
    bundled = dataclasses.replace(settings, scripts=tuple(refs), external_id=external_id)
    entries[SETTINGS_NAME] = bundled.to_json().encode("utf-8")

    data = _zip(entries)
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    return Bundle(data=data, sha256=digest, files=tuple(sorted(entries)))


def _zip(entries: dict[str, bytes]) -> bytes:
    """The zip of `entries`, depending on nothing but their names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # Sorted, because directory listing order differs between filesystems. No directory
        # entries: Python imports from extracted files without them and they carry modes too.
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.external_attr = FILE_MODE
            info.create_system = UNIX
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name], compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()
