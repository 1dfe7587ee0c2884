"""Example evaluation: writes metrics JSON to $MODELPLANE_METRICS_FILE.

The scores are fixed example values that pass the thresholds; set
EXAMPLE_METRICS='{"gleu": 0.4}' to simulate a regression.
"""

import json
import os
import sys

name = sys.argv[1]
metrics = {
    "gleu": 0.66,
    "false_positive_rate": 0.02,
    "toxicity_rate": 0.0004,
    "leakage_rate": 0.0,
    "macro_f1": 0.84,
    "preference_win_rate": 0.57,
}
metrics.update(json.loads(os.environ.get("EXAMPLE_METRICS", "{}")))
with open(os.environ["MODELPLANE_METRICS_FILE"], "w") as f:
    json.dump(metrics, f)
print(f"{name}: {metrics}")
