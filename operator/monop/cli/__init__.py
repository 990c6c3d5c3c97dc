"""The `monop` command: commands in `main`, every table and JSON document in `output`."""
