"""The built wheel installs into a clean virtual environment and works
there with nothing else: the core ships inside it, next to the module."""

import glob
import os
import subprocess
import sys
import venv

from conftest import BINDING


def find_wheel(tmp_path):
    wheel = os.environ.get("FERRYMAP_WHEEL")
    if wheel:
        return wheel
    wheels = sorted(
        glob.glob(str(BINDING / "target" / "wheels" / "ferrymap-*.whl")),
        key=os.path.getmtime,
    )
    if wheels:
        return wheels[-1]
    # Not built by test.sh: build it now.
    out = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "maturin",
            "build",
            "--release",
            "-i",
            sys.executable,
            "--out",
            str(out),
        ],
        cwd=BINDING,
        check=True,
    )
    return glob.glob(str(out / "ferrymap-*.whl"))[0]


SCRIPT = """
import collections.abc, os, sys, ferrymap
assert ferrymap.__file__.startswith(sys.prefix), ferrymap.__file__
lib = ferrymap.library_path()
assert os.path.dirname(lib) == os.path.dirname(ferrymap.__file__), lib
assert os.path.basename(lib).startswith("libferrymap.so"), lib
with ferrymap.Map(str, int) as m:
    m["a"] = 1
    m.add("a", 41)
    assert m == {"a": 42} and isinstance(m, collections.abc.MutableMapping)
assert ferrymap.census_total() == 0
print("ok", ferrymap.core_version())
"""


def test_wheel_installs_into_clean_venv(tmp_path):
    wheel = find_wheel(tmp_path)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    clean_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV")
    }
    subprocess.run(
        [
            py,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            wheel,
        ],
        check=True,
        env=clean_env,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run(
        [py, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=work,
        env=clean_env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok ")
