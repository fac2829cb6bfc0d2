"""The embedded stack: moto in server mode on loopback, the deployed template, local processes."""
