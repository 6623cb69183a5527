"""Step functions the unit tests reference by entry point (``module:function``)."""

from __future__ import annotations

from slipway.pipelines import StepContext, step

NOT_A_FUNCTION = 42


def prepare(ctx: StepContext) -> None:
    ctx.output("data").write_text("1,2,3")


def train(ctx: StepContext) -> None:
    ctx.output("model").write_text(ctx.input("data").read_text())


@step(outputs=["data"], params={"n": "${params.n}"})
def make_data(ctx: StepContext) -> None:
    ctx.output("data").write_text(str(ctx.params["n"]))


@step(outputs=["model"], inputs={"data": "make_data.data"})
def fit(ctx: StepContext) -> None:
    ctx.output("model").write_text(ctx.input("data").read_text())
