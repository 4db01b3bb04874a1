"""Every saved result of the study -> one self-contained HTML report and its Markdown twin."""

from cxr_gan.pipelines.report.pipeline import create_pipeline

__all__ = ["create_pipeline"]
