"""``hyper list``: the registered components and the bundled recipes."""

from __future__ import annotations

from typing import Annotated

import typer

from hypercli.cli.common import print_json, user_errors


@user_errors
def list_components(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List models, operators, losses, regularizers, attacks, datasets, verification
    protocols, kinds of run, GAN networks and losses, and recipes."""
    from rich.console import Console
    from rich.table import Table

    from hypercli import registry as R
    from hypercli.recipe import list_recipes

    kinds = {"models": R.MODELS, "conv operators": R.CONVS, "linear operators": R.LINEARS,
             "losses": R.HEADS, "regularizers": R.REGULARIZERS, "attacks": R.ATTACKS,
             "datasets": R.DATASETS, "data formats (streamed from disk)": R.READERS,
             "kinds of run (recipe task:)": R.TASKS,
             "verification protocols": R.PROTOCOLS,
             "GAN generators (gan.generator)": R.GENERATORS,
             "GAN discriminators (gan.discriminator)": R.DISCRIMINATORS,
             "GAN losses (gan.loss)": R.GAN_LOSSES}
    if json_out:
        out = {k: {n: reg.help(n) for n in reg.names()} for k, reg in kinds.items()}
        out["recipes"] = list_recipes()
        print_json(out)
        return
    con = Console()
    for kind, reg in kinds.items():
        table = Table(title=kind, title_justify="left", show_header=False, box=None)
        for name in reg.names():
            table.add_row(f"[cyan]{name}[/]", reg.help(name))
        con.print(table)
    table = Table(title="recipes", title_justify="left", show_header=False, box=None)
    for name in list_recipes():
        table.add_row(f"[cyan]{name}[/]")
    con.print(table)
