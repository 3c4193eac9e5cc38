"""A stand-in for ``python -m metapaas.agent``: records how it was started, then idles."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    seen = {"argv": sys.argv[1:], "cwd": os.getcwd(), "node": os.environ.get("METAPAAS_NODE_NAME")}
    Path("started.json").write_text(json.dumps(seen))
    time.sleep(60)
