"""Run a command and write its wall time, CPU time, peak RSS and exit code to a file.

``python -I -S spawn.py REPORT ARGV...``. The runner measures through this small process
because Linux charges a child the resident set of the process that spawned it (a vfork'd
child execs while still sharing its parent's memory), so spawning from the runner itself
would report the runner's size as the command's peak. Here that floor is this
interpreter's few megabytes. Only the standard library, no site: keep it small.
"""

import os
import sys
import time


def main() -> int:
    report, argv = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        print(f"cannot start {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    _pid, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    with open(report, "w") as out:  # noqa: PTH123 - pathlib costs start-up memory here
        out.write(f"{wall} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss} "
                  f"{os.waitstatus_to_exitcode(status)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
