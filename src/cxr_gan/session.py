"""The project's KedroSession: `--namespaces` runs a slice together with what it reads from memory.

`kedro run --namespaces real` keeps only the nodes of the `real` namespace; the classification
data every experiment shares (classification_data, external_data) is made by nodes outside any
namespace and kept in memory, so Kedro's own filter leaves the slice without its inputs. This
session adds the nodes that make a slice's in-memory inputs (and theirs, up to data that is
saved), and runs the slice with them: the same nodes and outputs as in a whole run, and nothing
else (not the other experiments, not the comparison). A slice whose inputs are all saved (a GAN
variant: xray_arrays and gan_split) runs exactly as Kedro's filter gives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.io.catalog_config_resolver import DEFAULT_RUNTIME_PATTERN, CatalogConfigResolver
from kedro.pipeline import Node, Pipeline


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


class NamespaceSession(KedroSession):
    """A KedroSession whose `namespaces` also run the shared nodes the slice needs (see the
    module's docstring); everything else is Kedro's."""

    def run(  # type: ignore[override]
        self,
        *args: Any,
        namespaces: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if namespaces and not kwargs.get("node_names"):
            names = kwargs.get("pipeline_names") or (
                [kwargs["pipeline_name"]] if kwargs.get("pipeline_name") else None
            )
            if hasattr(pipelines, "set_requested"):  # Kedro >= 1.5 loads only those requested
                pipelines.set_requested(names)  # as KedroSession.run does before building them
            combined = sum((pipelines[name] for name in names or ["__default__"]), Pipeline([]))
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
            kwargs["node_names"] = [node.name for node in chosen]
            namespaces = None
        return super().run(*args, namespaces=namespaces, **kwargs)
