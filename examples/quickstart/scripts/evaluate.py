"""Example evaluation: writes metrics JSON where modelplane asks for it."""

import json
import os

metrics = {"exact_match": float(os.environ.get("EXAMPLE_EXACT_MATCH", "0.42")), "toxicity": 0.002}
with open(os.environ["MODELPLANE_METRICS_FILE"], "w") as f:
    json.dump(metrics, f)
print(f"evaluated: {metrics}")
