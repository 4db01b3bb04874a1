"""Project settings: partial overrides in conf/local keep the rest of conf/base."""

from __future__ import annotations

import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.kedro_helpers import write_conf


def test_local_override_of_one_key_keeps_the_other_base_keys(project_copy, monkeypatch):
    base_file = project_copy / "conf/base/parameters_data_processing.yml"
    base = yaml.safe_load(base_file.read_text())
    base["data_processing"]["contact_sheet_per_class"] = 3  # not the model's default (8)
    base_file.write_text(yaml.safe_dump(base))
    write_conf(project_copy, "local/parameters.yml", {"data_processing": {"image_size": 32}})
    monkeypatch.chdir(project_copy)
    bootstrap_project(project_copy)
    with KedroSession.create(project_path=project_copy) as session:
        params = session.load_context().config_loader["parameters"]["data_processing"]
    assert params["image_size"] == 32
    assert params["contact_sheet_per_class"] == 3  # a destructive merge would lose it


def test_telemetry_is_off_by_default():
    from tests.conftest import PROJECT_ROOT

    assert yaml.safe_load((PROJECT_ROOT / ".telemetry").read_text()) == {"consent": False}


def test_parameter_check_hook_is_registered():
    from cxr_gan import settings
    from cxr_gan.hooks import ParameterCheckHooks

    assert isinstance(settings.HOOKS, tuple)
    assert any(isinstance(hook, ParameterCheckHooks) for hook in settings.HOOKS)
