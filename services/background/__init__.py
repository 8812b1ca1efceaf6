"""Work that happens once per installation, run by the leading process's scheduler: polling providers (and carrying
out what users and limits asked of runs), enforcing limits and budgets, copying job logs, fetching GPU metrics."""
