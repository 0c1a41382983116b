"""Old spellings of renamed options, still accepted for one release (0.1.x; remove them in the next).

An option renamed for consistency (one name, one meaning, in every command) is declared under its new
name with its old spellings attached; a positional argument that became an option likewise:

    @click.option("--split", "split", type=int, cls=RenamedOption, old=["--layers"], help=...)
    @click.argument("checkpoint", cls=PositionalAlias, option="generator")

An old spelling sets the new option's value and logs one line naming the new spelling (a warning, so -q
silences it). It does not appear in --help or in the usage line. Giving both spellings is a usage error
(exit code 2), and a bad value is reported under the spelling the user typed.
"""
import logging

import click

log = logging.getLogger(__name__)


def note(old, new):
    """Log the one-line deprecation note of `old`, replaced by `new` (for a rename the classes below cannot
    express, such as an option whose values became flags)."""
    log.warning("%s is deprecated and will be removed in the next release; use %s", old, new)


def _long_name(option):
    """'--generator' for -g/--generator: how messages name an option."""
    return max(option.opts, key=len)


class RenamedOption(click.Option):
    """An option that also answers to hidden old spellings (`old`), with a deprecation note when used."""

    def __init__(self, *args, old=(), **kwargs):
        super().__init__(*args, **kwargs)
        if self.secondary_opts or self.multiple or self.count:
            raise TypeError("RenamedOption supports plain options and single flags only")
        self.old_opts = list(old)

    @property
    def _old_dest(self):
        return f"{self.name}.old_spelling"  # the parser's slot for the old spellings (no identifier clashes)

    def add_to_parser(self, parser, ctx):
        super().add_to_parser(parser, ctx)
        if not self.old_opts:
            return
        if self.is_flag:
            parser.add_option(obj=self, opts=self.old_opts, dest=self._old_dest, action="store_const",
                              const=self.flag_value)
        else:
            parser.add_option(obj=self, opts=self.old_opts, dest=self._old_dest, action="store", nargs=self.nargs)

    def handle_parse_result(self, ctx, opts, args):
        if self._old_dest not in opts:
            return super().handle_parse_result(ctx, opts, args)
        old, new = "/".join(self.old_opts), _long_name(self)
        if self.name in opts:
            raise click.UsageError(f"{old} is the old spelling of {new}; give {new} only", ctx=ctx)
        note(old, new)
        try:
            return super().handle_parse_result(ctx, {**opts, self.name: opts[self._old_dest]}, args)
        except click.BadParameter as exc:
            exc.param_hint = f"'{old}' (now {new})"
            raise


class PositionalAlias(click.Argument):
    """A positional argument that became the option `option` (its parameter name): still accepted, as that
    option's value, with a deprecation note; hidden from the usage line; both at once is a usage error."""

    def __init__(self, param_decls, *, option, **kwargs):
        super().__init__(param_decls, required=False, expose_value=False, **kwargs)
        self.option = option

    def get_usage_pieces(self, ctx):
        return []

    def handle_parse_result(self, ctx, opts, args):
        value = opts.get(self.name)
        if isinstance(value, str):  # given (click marks a missing argument with None or a sentinel)
            target = next(p for p in ctx.command.params if p.name == self.option)
            flag = _long_name(target)
            if isinstance(opts.get(self.option), str):
                raise click.UsageError(f"{flag} and the positional {self.human_readable_name} (its old spelling) "
                                       f"name the same thing; give {flag} only", ctx=ctx)
            note(f"the positional {self.human_readable_name}", f"{flag} {value}")
            # the option is read after this argument (click reads what was given first, in command-line order)
            opts[self.option] = value
        return super().handle_parse_result(ctx, opts, args)
