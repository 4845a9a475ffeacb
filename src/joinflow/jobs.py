"""``datajoint.jobs`` compatibility: the jobs queue lives in :mod:`joinflow.pipeline.jobs`."""
from .pipeline.jobs import ERROR_MESSAGE_LENGTH, STATUSES, TRUNCATION_APPENDIX, Job

__all__ = ["ERROR_MESSAGE_LENGTH", "STATUSES", "TRUNCATION_APPENDIX", "Job"]
