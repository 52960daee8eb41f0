"""Running a call in a fresh Python process, for tests of calls that once crashed the process
(a segmentation fault, glibc's "free(): invalid pointer"): a regression then fails the test
instead of killing the test run."""

import subprocess
import sys


def outcome(code):
    """What ``code`` raises, as "ValueError: message" ("no error" if nothing), run in a fresh
    process: a call that writes out of bounds kills that process, not this one."""
    program = ("import numpy as np\n"
               "import tinyadv as ta\n"
               "from tinyadv import kernels, winograd\n"
               "from tinyadv.layers import conv\n"
               "f32 = lambda *shape: np.ones(shape, np.float32)\n"
               "try:\n"
               + "".join(f"    {line}\n" for line in code.splitlines()) +
               "except (TypeError, ValueError) as error:\n"
               "    print(f'{type(error).__name__}: {error}')\n"
               "else:\n"
               "    print('no error')\n")
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, (
        f"the process died (exit code {finished.returncode}): {finished.stderr[-800:]}")
    return finished.stdout.strip()
