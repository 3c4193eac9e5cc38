"""A stand-in for ``python -m metapaas.agent``: records how it was started, then idles."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    seen = {"argv": sys.argv[1:], "cwd": os.getcwd(), "node": os.environ.get("METAPAAS_NODE_NAME")}
    # Written whole under another name, then renamed: a test that sees the file reads it all.
    Path("started.json.part").write_text(json.dumps(seen))
    Path("started.json.part").rename("started.json")
    time.sleep(60)
