"""The script a clean interpreter runs for one invocation, like Lambda's Python runtime loop.

Run as `python -I -S bootstrap.py SPEC_JSON`: standard library only until it puts the function's
code (first, as Lambda's /var/task) and the runtime's boto3 on `sys.path`. It reads the event from
stdin, imports the handler, calls it with a context object, and writes one JSON document to the
result file: `{"ok": true, "result": ...}` or `{"ok": false, "error": {"errorMessage",
"errorType", "stackTrace"}}`, plus its timings and peak memory. The handler's prints go to
stdout/stderr, which the invoker keeps as the invocation's log.

It must never import lambdafan: nothing but this file and the standard library is loaded before
the function's own code.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes and method of Lambda's Python context object that handlers use."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.function_name: str = spec["function_name"]
        self.function_version: str = spec["function_version"]
        self.invoked_function_arn: str = spec["invoked_function_arn"]
        self.memory_limit_in_mb: str = str(spec["memory_mb"])  # a string, as in Lambda
        self.aws_request_id: str = spec["request_id"]
        self.log_group_name: str = spec["log_group_name"]
        self.log_stream_name: str = spec["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline_ms: int = spec["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def peak_memory_kb() -> int:
    """This process's peak resident memory (VmHWM), in KiB; 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def error_document(error_type: str, message: str, exc: BaseException | None) -> dict[str, Any]:
    trace = traceback.format_list(traceback.extract_tb(exc.__traceback__)) if exc else []
    return {"errorMessage": message, "errorType": error_type, "stackTrace": trace}


def run(spec: dict[str, Any], event: Any) -> dict[str, Any]:
    """Import and call the handler; the outcome as the result file's document (no timings)."""
    module_name, _, function_name = spec["handler"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        return {"ok": False, "error": error_document("Runtime.ImportModuleError", message, exc)}
    spec["timings"]["module_imported"] = time.time()
    handler = getattr(module, function_name, None)
    if not callable(handler):
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return {"ok": False, "error": error_document("Runtime.HandlerNotFound", message, None)}
    context = LambdaContext(spec)
    spec["timings"]["handler_started"] = time.time()
    try:
        result = handler(event, context)
    except Exception as exc:
        return {"ok": False, "error": error_document(type(exc).__name__, str(exc), exc)}
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        return {"ok": False, "error": error_document("Runtime.MarshalError", message, None)}
    return {"ok": True, "result": result}


def main() -> None:
    started = time.time()
    spec = json.loads(sys.argv[1])
    sys.path[:0] = [spec["task_root"], *spec["runtime_paths"]]
    raw = sys.stdin.buffer.read()
    event = json.loads(raw) if raw.strip() else {}
    spec["timings"] = {"bootstrap_started": started}
    outcome = run(spec, event)
    outcome["timings"] = spec["timings"]
    outcome["peak_memory_kb"] = peak_memory_kb()
    sys.stdout.flush()
    sys.stderr.flush()
    with open(spec["result_file"], "w", encoding="utf-8") as out:
        json.dump(outcome, out, default=str)


if __name__ == "__main__":
    main()
