"""Parses OpenMetrics text from stdin with the official prometheus-client parser and prints
the families as JSON, so the Rust test checks what a real Prometheus client library read."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append(
        {
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": s.value}
                for s in family.samples
            ],
        }
    )
print(json.dumps(families))
