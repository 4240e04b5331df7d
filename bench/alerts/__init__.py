"""Issue 19's alert benchmarks: the time from a fault to the notification received
(`python -m bench.alerts.latency`) and the precision and recall of the alerts sent over a
scripted scenario of faults and harmless fluctuations (`python -m bench.alerts.accuracy`).
Both run a real `jarvisctl daemon` over sshd hosts (bench/fleet.py) telling a webhook receiver
on loopback; see bench/README.md, "Alerts: latency and accuracy"."""
