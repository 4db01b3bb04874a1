"""Kedro datasets kedro-datasets lacks, and atomic versions of its writers (conf/*/catalog.yml)."""

from cxr_gan.datasets.atomic import CSVDataset, JSONDataset, MatplotlibDataset, TextDataset
from cxr_gan.datasets.image_set_dataset import ImageSetDataset
from cxr_gan.datasets.keras_model_dataset import KerasModelDataset
from cxr_gan.datasets.model_card_dataset import ModelCardDataset
from cxr_gan.datasets.npy_folder_dataset import NpyFolderDataset
from cxr_gan.datasets.npz_dataset import NpzDataset
from cxr_gan.datasets.report_datasets import (
    HTMLReportDataset,
    MarkdownReportDataset,
    RunRecordDataset,
)
from cxr_gan.datasets.xray_sources import PhantomXrayDataset, XrayFolderDataset

__all__ = [
    "CSVDataset",
    "HTMLReportDataset",
    "ImageSetDataset",
    "JSONDataset",
    "KerasModelDataset",
    "MarkdownReportDataset",
    "MatplotlibDataset",
    "ModelCardDataset",
    "NpyFolderDataset",
    "NpzDataset",
    "PhantomXrayDataset",
    "RunRecordDataset",
    "TextDataset",
    "XrayFolderDataset",
]
