"""Speed benchmarks (not tests): ``python -m benchmarks`` runs them all and prints figures."""
