"""Stage 5, plan: changes and impact -> the ordered actions, and the plan file apply executes.

- ``actions``: the action DAG, GPU deltas and owners to notify (``build_plan``);
- ``model``: the plan's pydantic models (what ``plan --out`` writes and the workflow reads);
- ``execution``: what each action runs, computed here so apply compiles nothing.
"""
