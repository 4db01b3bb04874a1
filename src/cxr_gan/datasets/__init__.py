"""Kedro datasets this project needs and kedro-datasets lacks (used in conf/*/catalog.yml)."""

from cxr_gan.datasets.npz_dataset import NpzDataset
from cxr_gan.datasets.xray_sources import PhantomXrayDataset, XrayFolderDataset

__all__ = ["NpzDataset", "PhantomXrayDataset", "XrayFolderDataset"]
