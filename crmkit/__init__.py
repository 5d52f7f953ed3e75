"""crmkit: the small shared kernel of the CRM services.

Config, Mongo client factory, event envelope and registry, the bus (publisher,
consumer, outbox relay), auth token checks, visibility, problem+json errors,
pagination, logging and metrics. Nothing domain-specific lives here.
"""
