"""Example training step: a real workflow would fine-tune here; this one records that it ran."""

import json
import os
import time

out = os.environ.get("MODELPLANE_OUTPUT_DIR", ".")
with open(os.path.join(out, "train-result.json"), "w") as f:
    json.dump({"finished_at": time.time(), "steps": 100}, f)
print("trained tiny-chat for 100 steps")
