from tests.sla.desk import sla_desk

__all__ = ["sla_desk"]
