"""``python -m joinflow.cli``: the ``dj`` console (DataJoint's ``python -m datajoint.cli``)."""
from joinflow.cli.shell import cli

cli()
