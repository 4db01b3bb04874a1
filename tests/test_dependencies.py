"""The project's dependencies (as installed from pyproject.toml) name only things that exist."""

from __future__ import annotations

from importlib.metadata import metadata

from packaging.requirements import Requirement


def _requirements() -> dict[str, Requirement]:
    """The project's own requirements, without those of its optional extras."""
    requirements = map(Requirement, metadata("cxr_gan").get_all("Requires-Dist") or [])
    return {req.name: req for req in requirements if "extra" not in str(req.marker or "")}


def test_every_extra_named_on_a_dependency_exists():
    """An unknown extra installs nothing, with one warning at install time at most."""
    requirements = _requirements()
    assert requirements["kedro-datasets"].extras  # the check below has something to check
    for name, requirement in requirements.items():
        offered = set(metadata(name).get_all("Provides-Extra") or [])
        assert requirement.extras <= offered, (name, sorted(requirement.extras - offered))


def test_the_installed_kedro_is_within_the_declared_range():
    installed = metadata("kedro")["Version"]
    assert _requirements()["kedro"].specifier.contains(installed), installed
