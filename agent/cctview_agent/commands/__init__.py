"""The agent's subcommands, one thin module each: parse, call the library, print."""
