"""`python -m framework ...` is the `nestq` command."""

from framework.cli import main

raise SystemExit(main())
