"""Dataset profiles, computed in a child process, one at a time.

A profile reads the whole file; doing it in the gateway would hold the GIL against requests and
keep the memory it grew. Each profile runs in a fresh `python -m mloop_gateway.adapters.profiling`
that exits when done, so nothing of it stays in the gateway. The child gets the settings and the
job as JSON on stdin and answers the profile as JSON on stdout; it exits with `BAD_DATA` when the
file's content cannot be profiled (the message on stderr).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mloop_common import tabular
from mloop_common.settings import Settings
from mloop_common.storage import create_artifact_store

BAD_DATA = 3


class ProfileFailed(RuntimeError):
    """The child crashed or was killed: worth a retry."""


class Profiler:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings.model_dump(mode="json")
        self._one_at_a_time = asyncio.Semaphore(1)

    async def profile(self, key: str, *, encoding: str, delimiter: str) -> dict[str, Any]:
        """The profile of a stored CSV; `ValueError` when its content cannot be profiled."""
        job = {"settings": self._settings, "key": key, "encoding": encoding, "delimiter": delimiter}
        async with self._one_at_a_time:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await child.communicate(json.dumps(job).encode())
        if child.returncode == BAD_DATA:
            raise ValueError(err.decode(errors="replace").strip())
        if child.returncode != 0:
            raise ProfileFailed(f"the profiler exited with {child.returncode}: {err[-2000:]!r}")
        return json.loads(out)


def main() -> None:
    job = json.load(sys.stdin)
    store = create_artifact_store(Settings(**job["settings"]))
    try:
        with store.open(job["key"]) as stream:
            profile = tabular.profile_csv(
                stream, encoding=job["encoding"], delimiter=job["delimiter"]
            )
    except ValueError as err:
        print(err, file=sys.stderr)
        raise SystemExit(BAD_DATA) from None
    json.dump(profile, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
