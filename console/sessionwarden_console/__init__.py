"""SessionWarden's security console (issue #9): a Textual terminal UI over the public API of
`sessionwarden`, running as an operator manager (no deployment secret)."""

__version__ = "0.1.0"
