"""DICOM files for tests, built with pydicom: one header builder and one image builder."""

from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def file_meta(
    transfer_syntax: str = ExplicitVRLittleEndian, sop_class: str = SecondaryCaptureImageStorage
) -> FileMetaDataset:
    """The file meta group: SOP class, a fresh instance UID, the transfer syntax."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    return meta


def header_only(transfer_syntax: str = ExplicitVRLittleEndian) -> pydicom.Dataset:
    """A secondary-capture dataset with its file meta and SOP UIDs and nothing else."""
    dataset = pydicom.Dataset()
    dataset.file_meta = file_meta(transfer_syntax)
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    return dataset


def image_dataset(
    pixels: np.ndarray, photometric: str = "MONOCHROME2", with_pixels: bool = True, **tags
) -> pydicom.Dataset:
    """A CR image of `pixels` (h, w) or (h, w, samples): bits and signedness from its dtype,
    `tags` set last (e.g. BitsStored=12, WindowCenter=...), PixelData unless with_pixels=False."""
    dataset = header_only()
    dataset.Modality = "CR"
    dataset.Rows, dataset.Columns = pixels.shape[:2]
    dataset.SamplesPerPixel = 1 if pixels.ndim == 2 else pixels.shape[2]
    dataset.PhotometricInterpretation = photometric
    bits = 8 if pixels.dtype.itemsize == 1 else 16
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = bits, bits, bits - 1
    dataset.PixelRepresentation = int(pixels.dtype.kind == "i")
    if pixels.ndim == 3:
        dataset.PlanarConfiguration = 0
    for key, value in tags.items():
        setattr(dataset, key, value)
    if with_pixels:
        dataset.PixelData = pixels.tobytes()
    return dataset


def dicom_bytes(dataset: pydicom.Dataset, **write_args) -> bytes:
    """The dataset as a DICOM file (with preamble and file meta), in memory."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, **({"enforce_file_format": True} | write_args))
    return buffer.getvalue()
