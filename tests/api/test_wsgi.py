"""The WSGI entry point freezes the loaded application out of the garbage collector's full collections."""
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def test_a_fresh_web_process_freezes_the_loaded_application():
    script = "import gc, stratum.wsgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "stratum.settings"}
    result = subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    frozen, tracked = result.stdout.split()
    # The URLconf pulled in every app's views before the freeze: most objects sit in the permanent generation,
    # and a full collection walks only the few created since.
    assert int(frozen) > 100_000
    assert int(tracked) < int(frozen) / 10
