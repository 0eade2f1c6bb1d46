// Pipelines: YAML files of resources → transforms → a sink, with state for resume. See ARCHITECTURE.md.
