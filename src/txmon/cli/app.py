"""The `txmon` group: its global options, and how every command's failure reaches the user as
one line on stderr."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Any, NoReturn

import click
from click.utils import PacifyFlushWrapper

from txmon import __version__
from txmon.cli.options import CONTEXT, EXIT_ERROR, error_exit_code
from txmon.core.errors import TxmonError


def one_line(text: str) -> str:
    """A message on one line: tabs and line breaks (libpq's hints have both) become spaces."""
    return " ".join(str(text).split())


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"txmon: error: {one_line(message)}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    """Something the user should change, though the command goes on: one line on stderr."""
    click.echo(f"txmon: warning: {one_line(message)}", err=True)


def environment_error(error: Exception) -> str | None:
    """The message for a failure of the surroundings rather than of txmon (a file that cannot
    be written, a database that went away mid-command); None for anything else, a bug."""
    if isinstance(error, OSError) and error.errno != errno.EPIPE:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{where}"
    # Looked up rather than imported: commands that never touch the database stay fast.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(error, psycopg.OperationalError):
        return f"database error: {str(error).strip() or type(error).__name__}"
    return None


class TxmonGroup(click.Group):
    """Every error as one line on stderr with exit status 1: TxmonError, failures of the
    surroundings (a traceback with --debug) and usage errors alike. Usage errors do not take
    click's 2, which txmon's commands use for "done, with rejected rows or failed sends", and
    `status` and `monitor` for CRITICAL; their errors exit 3 (`VerdictCommand`)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as error:
            # `txmon` or `txmon db` alone: the help is the answer, shown as click shows it.
            error.show()
            sys.exit(error.exit_code)
        except click.UsageError as error:
            hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
            code = error_exit_code(error.ctx.command if error.ctx else None)
            fail(error.format_message().rstrip(".") + hint, code)
        except click.ClickException as error:
            fail(error.format_message())
        except click.Abort:
            fail("aborted")
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise
            # A reader that went away (txmon alerts | head) is not an error worth a line.
            sys.stdout = PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
            sys.exit(1)
        # Without standalone mode click returns the code of an explicit exit (0 after --help).
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TxmonError as error:
            if os.environ.get("TXMON_DEBUG"):
                traceback.print_exc()
            fail(str(error), self._error_code(ctx))
        except KeyboardInterrupt:
            click.echo("txmon: interrupted", err=True)
            sys.exit(130)
        except Exception as error:
            message = environment_error(error)
            if message is None:
                raise
            if os.environ.get("TXMON_DEBUG"):
                traceback.print_exc()
            fail(message, self._error_code(ctx))

    def _error_code(self, ctx: click.Context) -> int:
        """The exit status of an error in the command being run."""
        name = ctx.invoked_subcommand
        return error_exit_code(self.get_command(ctx, name) if name else None)


@click.group(cls=TxmonGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="txmon")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--database",
    # txmon.db.connection.DATABASES (a test keeps them equal), not imported: psycopg's import
    # would slow down every command, `txmon --help` included.
    type=click.Choice(["main", "demo"]),
    help="main: TXMON_DATABASE_URL's database (else the embedded server's); demo: the one "
    "`txmon demo` fills beside it. Default: $TXMON_DATABASE, else main.",
)
def main(debug: bool, database: str | None) -> None:
    """Real-time monitoring of payment transactions on PostgreSQL and dbt."""
    # What txmon writes (TXMON_HOME, dbt's logs and artefacts, the server's log) is the
    # owner's alone: logs can name what failed, and the folder holds the database password.
    os.umask(0o077)
    if debug:
        os.environ["TXMON_DEBUG"] = "1"
    if database:
        # Through the environment, so processes txmon starts (dbt, Superset, the API) agree.
        os.environ["TXMON_DATABASE"] = database
