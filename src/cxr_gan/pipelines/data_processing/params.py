"""Parameters of the data_processing pipeline, validated by Kedro before any node runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DataProcessingParams(BaseModel):
    """conf/base/parameters_data_processing.yml, key `data_processing`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    classes: dict[str, int] = Field(
        default_factory=lambda: {"normal": 0, "covid": 1},
        description="class folder name -> label",
    )
    image_size: int = Field(446, ge=16, le=4096, description="side of the square arrays, px")
    resize_mode: Literal["stretch", "pad", "crop"] = "stretch"
    on_bad_file: Literal["skip", "fail"] = "skip"
    on_suspect_image: Literal["keep", "skip"] = Field(
        "keep",
        description="images that decode to an almost empty range or a brightness far outside "
        "their class's get status warning: keep them (listed in the report) or skip them",
    )
    on_label_conflict: Literal["exclude", "fail", "keep"] = Field(
        "exclude",
        description="one radiograph (exact or near duplicate) in two classes: leave both copies "
        "out of every split, stop the run, or keep both (split together)",
    )
    min_images_per_class: int = Field(10, ge=1)
    max_pixels: int = Field(
        100_000_000,
        ge=1,
        description="larger images are refused before decoding (bombs); a DICOM's frames all "
        "count; above Pillow's own limit too (deep colour PNG/TIFF: OpenCV's 2^30 at most)",
    )
    keep_non_frontal: list[Literal["mask", "lateral", "not_radiograph", "multi_frame"]] = Field(
        default_factory=list,
        description="kinds of file that are not frontal chest radiographs to keep in the study "
        "(status warning) instead of leaving out (status excluded): mask (a masks folder or "
        "name, a two-level image), lateral (or oblique: a CSV view column, the DICOM header, a "
        "name), not_radiograph (a DICOM Modality other than CR, DX, RG), multi_frame (frame 1 "
        "used)",
    )
    near_duplicate_max_distance: int = Field(
        4,
        ge=0,
        le=64,
        description="pHash bits within which two images are a near-duplicate candidate "
        "(each image's closest few; verified by ORB + RANSAC like every candidate)",
    )
    near_duplicate_min_inliers: int = Field(
        44,
        ge=4,
        description="ORB matches that must agree point for point (at 128 px) once a candidate "
        "pair is aligned by RANSAC, for it to count as the same radiograph",
    )
    near_duplicate_candidates: int = Field(
        3,
        ge=0,
        le=50,
        description="per image, how many candidates of each kind (closest pHashes, most shared "
        "ORB descriptors) are verified; 0 turns near-duplicate detection off",
    )
    test_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = Field(42, ge=0, le=2**31 - 1)
    patient_csv: str | None = Field(
        "auto",
        description="CSV at the raw folder's root naming the images (any column: paths, names "
        "or stems) and their patients (a patient column by name: patient_id, Patient ID, "
        "subject_id, ...; any delimiter); 'auto' finds one, null ignores any (a view column in "
        "it is read too)",
    )
    probable_patients_from_names: bool = Field(
        True,
        description="images without a patient key whose names differ only by a panel letter "
        "(COVID-00039a/b, gr1_lrg-a/-b) or are NIH's <8 digits>_<3 digits> are split as "
        "probably one patient; false: each such image is its own patient",
    )
    contact_sheet_per_class: int = Field(8, ge=1, le=64)
    scratch_dir: str | None = Field(
        "data/05_model_input",
        description="where the arrays are built before they are saved; on the same disk as the "
        "xray_arrays catalog entry, saving is a rename; null: $TMPDIR",
    )

    def ingest_options(self) -> dict[str, Any]:
        """Keyword arguments of cxr_gan.data.ingest.ingest_collection."""
        return {
            "image_size": self.image_size,
            "resize_mode": self.resize_mode,
            "max_pixels": self.max_pixels,
            "on_bad_file": self.on_bad_file,
            "scratch_dir": self.scratch_dir,
            "on_label_conflict": self.on_label_conflict,
            "keep_non_frontal": tuple(self.keep_non_frontal),
            "patient_csv": self.patient_csv,
        }

    @field_validator("classes")
    @classmethod
    def _two_distinct_labels(cls, classes: dict[str, int]) -> dict[str, int]:
        if sorted(classes.values()) != list(range(len(classes))) or len(classes) < 2:
            raise ValueError(
                f"needs at least two folders labelled 0, 1, ... without gaps or repeats, "
                f"got {classes}"
            )
        return classes
