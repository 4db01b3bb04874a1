"""Kedro datasets this project needs and kedro-datasets lacks (used in conf/*/catalog.yml)."""

from cxr_gan.datasets.image_set_dataset import ImageSetDataset
from cxr_gan.datasets.keras_model_dataset import KerasModelDataset
from cxr_gan.datasets.npz_dataset import NpzDataset
from cxr_gan.datasets.xray_sources import PhantomXrayDataset, XrayFolderDataset

__all__ = [
    "ImageSetDataset",
    "KerasModelDataset",
    "NpzDataset",
    "PhantomXrayDataset",
    "XrayFolderDataset",
]
