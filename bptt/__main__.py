"""Entry point: python -m bptt train ..."""

import sys

from .cli import main
from .i18n import setup_cli

if __name__ == "__main__":
    setup_cli()  # help and messages in the language of LANGUAGE / LC_ALL / LC_MESSAGES / LANG
    sys.exit(main())
