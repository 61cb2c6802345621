"""How fast training runs: throughput against the env's ceiling, and a paired check against a git ref."""
