"""``hyper``: deep learning on the hypersphere. Wires the commands; each lives in its own file.

torch is imported inside the commands, never here, so ``hyper --help`` is instant.
"""

from __future__ import annotations

import typer

from hypercli.cli import attack, data, embed, evaluate, listing, mhe_solve, train, visualize

app = typer.Typer(
    name="hyper",
    help="Deep learning on the hypersphere: SphereFace margins, SphereConv, MHE, robustness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.command("visualize-features")(visualize.visualize_features)
app.command("attack")(attack.attack)
app.command("embed")(embed.embed)
app.command("mhe-solve")(mhe_solve.mhe_solve)
app.command("list")(listing.list_components)
app.add_typer(data.app, name="data")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
