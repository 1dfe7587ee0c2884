"""Stage 3, graph: specs -> the checked lineage graph.

- ``lineage``: ``LineageGraph``; ``toposort``: the one topological sort (also the plan's actions');
- ``checks``: the rules over the whole graph;
- ``engine_check``: each revision's ``vllm serve`` flags against the pinned vLLM's flag set;
- ``selectors``: dbt-style selection; ``fingerprint``: what a change to a node is measured by.
"""
