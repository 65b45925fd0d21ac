"""The formats the harness writes, each owned by one module: the trial record
(`harness.schema.record`) and the manifest (`harness.schema.manifest`), with their
versions (`harness.schema.version`). Writers call ``to_json()``, readers ``from_json()``."""
