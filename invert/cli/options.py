"""Options shared by several subcommands, so each is spelled and documented once, and the types they use."""
import math

import click


class FiniteFloat(click.FloatRange):
    """A float option that must be a finite number (not nan, inf or -inf), optionally within a range.

    click's FLOAT and FloatRange accept 'nan' and 'inf' (nan passes every range check, inf every open-
    ended one); a non-finite learning rate, weight, strength or truncation silently produces garbage.
    A bad value is a usage error (exit code 2) naming the option:

        @click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=0.01)
        @click.option("--strength", type=FINITE_FLOAT, default=1.0)
    """

    name = "float"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)

    def _describe_range(self):
        return "" if self.min is None and self.max is None else super()._describe_range()

    def __repr__(self):
        return f"FiniteFloat({self._describe_range()})"


FINITE_FLOAT = FiniteFloat()

generator_option = click.option(
    "--generator", "-g", "generator", required=True, metavar="NAME|PATH",
    help="Generator: a registry name (see `weights list`), a checkpoint path, or random:NAME[:SEED].")
latent_generator_option = click.option(
    "--generator", "-g", "generator", default=None, metavar="NAME|PATH",
    help="Generator: a registry name, a checkpoint path, or random:NAME[:SEED]. [default: the one named in the "
         "input latents' records (<stem>.json beside each), else ffhq-1024]")


def _device(ctx, param, value):
    """Resolve --device to a torch.device when the command runs, naming the option in the error."""
    from invert.devices import resolve_device
    from invert.errors import InvertError

    try:
        return resolve_device(value)
    except InvertError as exc:
        raise InvertError(f"--device {value}: {exc}") from None


device_option = click.option(
    "--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:n]|mps", callback=_device,
    help="Where to compute.")
force_option = click.option("--force", is_flag=True, help="Overwrite existing outputs (never the inputs).")
no_tuned_option = click.option(
    "--no-tuned", "no_tuned", is_flag=True,
    help="Render with the plain generator, ignoring the tuned updates the latents' records name (the results' "
         "records then name none).")
