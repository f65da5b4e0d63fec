"""One module per ``diffsearch`` subcommand; each defines ``register(subparsers)``."""
