"""Files users touch: workload files, WfFormat traces, cluster files, schedules' Gantt charts, policies.

- :mod:`~scale_pl.io.workload_file`: the workload JSON format (read, write, exact round trip).
- :mod:`~scale_pl.io.wfformat`: importing WfCommons WfFormat traces through a type mapping.
- :mod:`~scale_pl.io.workload_sources`: one workload from several files of either kind.
- :mod:`~scale_pl.io.cluster_file`: cluster files (a count per server class), read and written.
- :mod:`~scale_pl.io.gantt`: Gantt charts of schedule JSON.
- :mod:`~scale_pl.io.policy_loader`: ``--policy`` names and checkpoints.
- :mod:`~scale_pl.io.schema`, :mod:`~scale_pl.io.atomic`, :mod:`~scale_pl.io.json_text`: helpers.

The formats are described in ``docs/formats.md``; their JSON Schemas ship beside this file.
"""
