"""The OTLP/HTTP receiver: GenAI spans pushed by a Collector or SDK, stored like ingested logs."""

from distillguard.collect.app import check_collect_config, create_collect_app
from distillguard.collect.writer import WarehouseWriter, Written

__all__ = ["WarehouseWriter", "Written", "check_collect_config", "create_collect_app"]
