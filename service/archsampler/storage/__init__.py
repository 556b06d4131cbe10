"""Durable storage of studies and trials."""

from __future__ import annotations

from archsampler.storage.base import NewTrial
from archsampler.storage.base import Storage
from archsampler.storage.base import StudyRecord
from archsampler.storage.sql import SQLStorage
from archsampler.storage.sql import database_url

__all__ = ["NewTrial", "SQLStorage", "Storage", "StudyRecord", "database_url"]
