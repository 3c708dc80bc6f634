"""`python -m ragmeter.service.cli`: the `ragmeter` command without its console script."""
import sys

from ragmeter.service.cli import main

sys.exit(main())
