"""The project's KedroSession: `--namespaces` runs a slice together with what it reads from memory.

`kedro run --namespaces real` keeps only the nodes of the `real` namespace; the classification
data every experiment shares (classification_data, external_data) is made by nodes outside any
namespace and kept in memory, so Kedro's own filter leaves the slice without its inputs. This
session adds the nodes that make a slice's in-memory inputs (and theirs, up to data that is
saved), and runs the slice with them: the same nodes and outputs as in a whole run, and nothing
else (not the other experiments, not the comparison). A slice whose inputs are all saved (a GAN
variant: xray_arrays and gan_split) runs exactly as Kedro's filter gives it.

Any slice option (--nodes, --from-nodes, --to-nodes, --tags, --from-inputs, --to-outputs) that
selects no node, or names a node or dataset the run does not have, and a --load-versions name
the catalog does not know, stop the run in one line (a ClickException) naming the close
matches, instead of Kedro's traceback. A slice whose inputs are missing is refused by
preflight.py, which reads the --namespaces asked for here (as_asked) to repeat the command.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import click
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.io import DatasetNotFoundError
from kedro.io.catalog_config_resolver import DEFAULT_RUNTIME_PATTERN, CatalogConfigResolver
from kedro.pipeline import Node, Pipeline

from cxr_gan.pipelines.parameter_check import InvalidParametersError


def nodes_for_namespaces(
    pipeline: Pipeline, namespaces: Iterable[str], catalog_config: dict[str, Any]
) -> list[Node]:
    """The nodes of `namespaces` (as Kedro's --namespaces filter selects them) plus, outside
    them, the nodes that make their in-memory inputs, recursively; in the pipeline's order.

    A dataset is in memory when the catalog config declares it a MemoryDataset or does not
    declare it (Kedro's default). Raises ValueError for a namespace no node has (Kedro's
    message)."""
    chosen = set(pipeline.only_nodes_with_namespaces(list(namespaces)).nodes)
    resolver = CatalogConfigResolver(
        catalog_config, default_runtime_patterns=DEFAULT_RUNTIME_PATTERN
    )
    producer = {output: node for node in pipeline.nodes for output in node.outputs}

    def in_memory(name: str) -> bool:
        dataset_type = str(resolver.resolve_pattern(name).get("type", ""))
        return dataset_type.rsplit(".", 1)[-1] == "MemoryDataset"

    pending = [name for node in chosen for name in node.inputs]
    while pending:
        name = pending.pop()
        node = producer.get(name)
        if node is None or node in chosen or not in_memory(name):
            continue
        chosen.add(node)
        pending += node.inputs
    return [node for node in pipeline.nodes if node in chosen]


# the --namespaces each run (by run id) was asked for, before run() turned them into node names:
# the hints printed before any node runs repeat the command as it was given
_ASKED_NAMESPACES: dict[str, list[str]] = {}


def as_asked(run_params: Mapping[str, Any]) -> dict[str, Any]:
    """Kedro's run_params of a run as its command line gave them: a `--namespaces` run's
    namespaces back in place of the node names NamespaceSession ran (other keys unchanged)."""
    asked = dict(run_params)
    namespaces = _ASKED_NAMESPACES.get(str(asked.get("run_id")))
    if namespaces:
        asked.update(namespaces=namespaces, node_names=None)
    return asked


def _slice_options(kwargs: Mapping[str, Any], namespaces: Iterable[str] | None) -> str:
    """The slice options of a run as `kedro run` takes them ('--from-nodes a --tags t')."""
    from cxr_gan.lineage import SLICE_OPTIONS

    given = {**kwargs, "namespaces": namespaces}
    return " ".join(
        f"{option} {','.join(given[key])}" for key, option in SLICE_OPTIONS if given.get(key)
    )


def _slice_problem(error: ValueError, names: Iterable[str], combined: Pipeline) -> str:
    """Kedro's filter error, with the names that come close to those it did not find."""
    known = sorted({n.name for n in combined.nodes} | set(combined.datasets()))
    close = sorted({m for name in names for m in difflib.get_close_matches(name, known, n=3)})
    tags = sorted({tag for n in combined.nodes for tag in n.tags})
    if "no nodes after applying" in str(error):
        return (
            "no node of this run matches all of these options (tags of its nodes: "
            f"{', '.join(tags) or 'none'}; `kedro registry describe` lists its nodes)"
        )
    return f"{error}" + (f" Did you mean {', '.join(close)}?" if close else "")


class NamespaceSession(KedroSession):
    """A KedroSession whose `namespaces` also run the shared nodes the slice needs (see the
    module's docstring), and whose slice options (--nodes, --from-nodes, --tags, ...) that
    select nothing, or name nodes or datasets the run does not have, stop the run in one line
    (a ClickException) instead of Kedro's traceback; everything else is Kedro's."""

    def run(  # type: ignore[override]
        self,
        *args: Any,
        namespaces: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        names = kwargs.get("pipeline_names") or (
            [kwargs["pipeline_name"]] if kwargs.get("pipeline_name") else None
        )
        if hasattr(pipelines, "set_requested"):  # Kedro >= 1.5 loads only those requested
            pipelines.set_requested(names)  # as KedroSession.run does before building them
        try:
            combined = sum((pipelines[name] for name in names or ["__default__"]), Pipeline([]))
        except (KeyError, InvalidParametersError):
            # an unknown pipeline: Kedro's own message, with its suggestions; invalid parameters:
            # the run's own check (ParameterCheckHooks, when Kedro loads the context) lists them all
            return super().run(*args, namespaces=namespaces, **kwargs)
        slice_names = [
            name
            for key in ("node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs")
            for name in kwargs.get(key) or []
        ]
        try:
            combined.filter(
                tags=kwargs.get("tags"),
                from_nodes=kwargs.get("from_nodes"),
                to_nodes=kwargs.get("to_nodes"),
                node_names=kwargs.get("node_names"),
                from_inputs=kwargs.get("from_inputs"),
                to_outputs=kwargs.get("to_outputs"),
            )
        except ValueError as error:  # a name no node or dataset has, or an empty slice
            raise click.ClickException(
                f"{_slice_options(kwargs, None)}: {_slice_problem(error, slice_names, combined)}"
            ) from error
        if namespaces and not kwargs.get("node_names"):
            catalog_config = self._get_config_loader()["catalog"]
            try:
                chosen = nodes_for_namespaces(combined, namespaces, catalog_config)
            except ValueError as error:  # a namespace no node has: one line, not a traceback
                known = sorted({n.namespace.split(".")[0] for n in combined.nodes if n.namespace})
                raise click.ClickException(
                    f"--namespaces {','.join(namespaces)}: {error}. Namespaces in this run: "
                    f"{', '.join(known) or 'none'} (an experiment turned off in "
                    "classification.experiments, or a GAN variant not in "
                    "gan_training.variants, has no nodes)"
                ) from error
            _ASKED_NAMESPACES[str(self.store["session_id"])] = list(namespaces)
            kwargs["node_names"] = [node.name for node in chosen]
            namespaces = None
        try:
            return super().run(*args, namespaces=namespaces, **kwargs)
        except DatasetNotFoundError as error:  # Kedro's check of the --load-versions names
            if "'load_versions' keys" not in str(error):
                raise
            asked = ",".join(f"{k}:{v}" for k, v in (kwargs.get("load_versions") or {}).items())
            known = sorted(set(combined.datasets()))
            close = sorted(
                {
                    match
                    for name in kwargs.get("load_versions") or {}
                    for match in difflib.get_close_matches(name, known, n=3)
                }
            )
            raise click.ClickException(
                f"--load-versions {asked}: {error}"
                + (f" Did you mean {', '.join(close)}?" if close else "")
            ) from error
