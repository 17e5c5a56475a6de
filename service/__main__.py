"""`python -m service` is the `webcare` command."""

import sys

from service.cli import main

sys.exit(main())
