"""MetaPaaS tests; a package so that ``tests.sample_plugins`` imports by name."""
