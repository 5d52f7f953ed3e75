"""The `crm` command: run the whole system, one service, or a worker."""
