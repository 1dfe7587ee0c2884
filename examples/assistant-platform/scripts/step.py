"""Example workflow step: stands in for a real pipeline step and records that it ran."""

import json
import os
import sys
import time

step = sys.argv[1]
out = os.environ.get("MODELPLANE_OUTPUT_DIR", ".")
with open(os.path.join(out, f"{step}.json"), "w") as f:
    json.dump({"step": step, "finished_at": time.time()}, f)
print(f"ran {step}")
