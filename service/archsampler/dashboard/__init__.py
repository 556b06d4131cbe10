"""A read-only web dashboard of the service's studies (`archsampler serve --dashboard-port`)."""

from archsampler.dashboard.app import Dashboard

__all__ = ["Dashboard"]
