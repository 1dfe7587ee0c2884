"""The pure compiler: load -> validate -> link -> check -> diff -> impact -> plan -> report.

Nothing here starts processes, opens sockets or talks to Temporal; it reads
files (or git objects) and returns values.
"""
