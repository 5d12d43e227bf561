"""The `txmon` command line: thin commands that parse arguments, call the library and print.

One module per family of commands; `app` holds the group and its error handling, `options` the
option types they share. The library is imported inside each command, so that `txmon --help`
and a refused argument answer at once.

May import: every room. Nothing imports it (the import-layer contract).
"""

from txmon.cli import alerts, build, data, db, evaluation, lab, serve, superset, views
from txmon.cli.app import main

for command in (
    db.db,
    data.load,
    data.loads,
    data.prune,
    data.generate,
    build.build,
    build.dbt,
    build.run,
    alerts.dispatch,
    alerts.alerts,
    alerts.silence,
    views.monitor,
    views.status,
    views.episodes,
    views.incidents,
    evaluation.eval_,
    serve.serve,
    superset.superset,
    lab.demo,
    lab.benchmark,
    lab.bench,
    lab.replay,
):
    main.add_command(command)

__all__ = ["main"]
