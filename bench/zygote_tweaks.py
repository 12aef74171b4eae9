"""Bench helper: try changes to the sandbox's zygote without editing lambda_src.

`patch_boot(tweaks)`, called in the Worker's process before its `ProcessSandbox` starts a zygote,
makes that zygote call `apply(tweaks)` before `sandbox_child.main()`; `apply` wraps
`sandbox_child._preload`, so the tweaks run once, after the zygote's own preparation (boto3's
common clients built, client classes cached, gc.freeze()) and before any fork. Tweaks:

  lambda   also build a lambda client (a built-in script's service the zygote does not
           prepare), then freeze again
  trim     malloc_trim(0) last: give back the heap the preparation freed, so forks don't
           inherit (and the zygote doesn't hold) free pages
"""

from __future__ import annotations

import ctypes
import gc

TWEAKS = ("lambda", "trim")
_MAIN = "from lambda_src.sandbox_child import main; main()"
_ORIGINAL: dict[str, str] = {}


def boot_for(tweaks: tuple[str, ...]) -> str:
    """The zygote's boot code (`lambda_src.sandbox._BOOT`) with `tweaks` applied; set it before
    a `ProcessSandbox` starts its zygote (it is read then)."""
    unknown = set(tweaks) - set(TWEAKS)
    if unknown:
        raise ValueError(f"unknown zygote tweaks: {sorted(unknown)}")
    from lambda_src import sandbox

    boot = _ORIGINAL.setdefault("boot", sandbox._BOOT)
    if not tweaks:
        return boot
    if _MAIN not in boot:
        raise RuntimeError("lambda_src.sandbox._BOOT changed: update bench/zygote_tweaks.py")
    return boot.replace(_MAIN, f"import zygote_tweaks; zygote_tweaks.apply({tweaks!r}); {_MAIN}")


def patch_boot(tweaks: tuple[str, ...]) -> None:
    """Make the zygotes `ProcessSandbox` starts from now on apply `tweaks` (this process only)."""
    from lambda_src import sandbox

    sandbox._BOOT = boot_for(tweaks)


def apply(tweaks: tuple[str, ...]) -> None:
    """In the zygote, before main(): wrap its preload with the tweaks."""
    from lambda_src import sandbox_child

    original = sandbox_child._preload

    def preload() -> None:
        original()
        if "lambda" in tweaks:
            import boto3

            boto3.DEFAULT_SESSION.client(
                "lambda", region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-"
            )
            gc.collect()
            gc.freeze()
        if "trim" in tweaks:
            ctypes.CDLL(None).malloc_trim(0)

    sandbox_child._preload = preload
