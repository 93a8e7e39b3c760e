"""`python -m kexue ...` is the `kexue` command."""

from kexue.cli import main

raise SystemExit(main())
