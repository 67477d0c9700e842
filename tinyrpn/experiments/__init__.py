"""Experiment drivers: code that runs many trainings and reports on them, beside the CLI.

They sit at the top of the package, with ``tinyrpn.cli``: they may use every layer below
(config, train, plot, models...), and nothing in the library imports them.

- :mod:`tinyrpn.experiments.subspace_sweep`: the subspace sweep of docs/EXPERIMENTS.md §4
  (one run per dimension d, the two reference plots, d_int90 by bisection), behind
  ``tinyrpn sweep``.
"""
