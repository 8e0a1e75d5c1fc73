"""Starts moto_server for the local cloud, with Step Functions really executing state machines.

Usage: python3 moto_launcher.py --port <moto port>   (MOTO_PORT must be set to the front door's port,
so that the ASL interpreter's Lambda and SDK-integration calls come back through the front door.)
"""
import copy
import sys

from moto.core.config import default_user_config

# Execute state machines instead of returning canned results (moto's interpreter is LocalStack's ASL one).
default_user_config["stepfunctions"]["execute_state_machine"] = True

from moto.stepfunctions.models import StateMachine  # noqa: E402

_SHARED = ("backend", "executions")


def _deepcopy_sharing_backend(self, memo):
    # moto 5.2 deep-copies the state machine on every StartExecution; the copy reaches the backend's
    # locks (`cannot pickle '_thread.RLock'`), so every execution after the first fails. The backend and
    # the executions list are shared state, not part of the execution's snapshot: share them, copy the rest.
    clone = self.__class__.__new__(self.__class__)
    memo[id(self)] = clone
    for key, value in self.__dict__.items():
        setattr(clone, key, value if key in _SHARED else copy.deepcopy(value, memo))
    return clone


StateMachine.__deepcopy__ = _deepcopy_sharing_backend


# --- Real CRC64NVME and CRC32C -------------------------------------------------------------------------------------
# moto computes CRC64NVME only when the optional package awscrt is installed and CRC32C only with crc32c; without them
# `moto.s3.utils.compute_checksum` silently returns a CRC32 under the other name. The archiver verifies every
# Glacier-class copy by comparing the full-object CRC64NVME S3 reports for the source and for the copy, and the SDK
# validates downloads against whatever checksum S3 sends, so the local cloud must compute the real ones. Neither
# package can be installed here: local/moto_crc.py provides both (compiled C through ctypes, else pure Python).
import base64  # noqa: E402
import binascii  # noqa: E402
import hashlib  # noqa: E402

import moto.s3.models  # noqa: E402,F401 - imported so that its binding of compute_checksum exists to be replaced
import moto.s3.responses  # noqa: E402,F401
import moto.s3.utils as _s3_utils  # noqa: E402

sys.dont_write_bytecode = True  # the modules beside this one are imported from the source tree: leave no __pycache__ in it
from moto_crc import IMPLEMENTATION, crc32c, crc64nvme  # noqa: E402

_moto_compute_checksum = _s3_utils.compute_checksum


def compute_checksum(body: bytes, algorithm: str, encode_base64: bool = True) -> bytes:
    """moto's compute_checksum, with CRC64NVME and CRC32C computed for real; the others as moto computes them."""
    name = (algorithm or "").upper()
    if name == "CRC64NVME":
        digest = crc64nvme(body).to_bytes(8, "big")
    elif name == "CRC32C":
        digest = crc32c(body).to_bytes(4, "big")
    elif name == "CRC32":
        digest = binascii.crc32(body).to_bytes(4, "big")
    elif name == "SHA1":
        digest = hashlib.sha1(body, usedforsecurity=False).digest()
    elif name == "SHA256":
        digest = hashlib.sha256(body, usedforsecurity=False).digest()
    else:
        return _moto_compute_checksum(body, algorithm, encode_base64)
    return base64.b64encode(digest) if encode_base64 else digest


# moto.s3.models and moto.s3.responses import compute_checksum by name, so rebinding it in moto.s3.utils alone would
# change nothing: rebind it in every loaded moto module that holds moto's function.
_rebound = []
for _name, _module in list(sys.modules.items()):
    if _name.startswith("moto") and getattr(_module, "compute_checksum", None) is _moto_compute_checksum:
        setattr(_module, "compute_checksum", compute_checksum)
        _rebound.append(_name)
assert {"moto.s3.utils", "moto.s3.models", "moto.s3.responses"} <= set(_rebound), _rebound
print(f"moto_launcher: CRC64NVME and CRC32C by {IMPLEMENTATION}; compute_checksum replaced in {', '.join(sorted(_rebound))}", file=sys.stderr, flush=True)

# --- EventBridge delivery without recompiling JSONPath ---------------------------------------------------------------
# moto's EventBridge compiles its 8 default input paths with jsonpath_ng (a PLY parser, about 60 ms each) for every
# event it delivers to every target: half a second per delivery, which delayed the S3 restore events (and every other
# routed event) by that much. Same code, with each path compiled once.
import functools  # noqa: E402
import json as _json  # noqa: E402

from jsonpath_ng.ext import parse as _jsonpath_parse  # noqa: E402
from moto.events.utils import EventTemplateParser  # noqa: E402

_compiled_jsonpath = functools.lru_cache(maxsize=256)(_jsonpath_parse)


def _parse_event_template(input_template, input_paths_map, event):  # type: ignore[no-untyped-def]
    template_to_use = input_template or EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    input_paths_map = input_paths_map or EventTemplateParser.DEFAULT_EVENT_INPUT_PATHS_MAP
    for input_path in input_paths_map:
        matches = _compiled_jsonpath(input_paths_map[input_path]).find(event)
        result = EventTemplateParser._stringify(matches[0].value) if matches else None
        if result:
            template_to_use = template_to_use.replace(f"<{input_path}>", result)
    default_inputs_map = {"aws.events.event.json": event, "aws.events.event.ingestion-time": event["ingestion-time"]}
    for input_path in default_inputs_map:
        template_to_use = template_to_use.replace(f"<{input_path}>", EventTemplateParser._stringify(default_inputs_map[input_path]))
    return _json.loads(template_to_use)


EventTemplateParser.parse = staticmethod(_parse_event_template)

# --- SendTaskFailure keeps its cause ---------------------------------------------------------------------------------
# moto's SendTaskFailure handler passes the error to the interpreter but drops `cause`, so a Catch sees `"Cause": null`
# where Step Functions hands on the cause the caller sent (the restore records it as the file's failure reason).
from moto.stepfunctions.responses import EmptyResult, StepFunctionResponse  # noqa: E402


def _send_task_failure(self):  # type: ignore[no-untyped-def]
    self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause"))
    return EmptyResult()


StepFunctionResponse.send_task_failure = _send_task_failure

# --- S3 checksum and restore behaviour as S3 has it (see the modules' docstrings and docs/local-cloud.md) ------------
import moto_s3_checksums  # noqa: E402
import moto_s3_restore  # noqa: E402

moto_s3_checksums.install()
moto_s3_restore.install()

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
