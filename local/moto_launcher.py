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

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
